"""Effect kinds: every effectType refcamp emits has exactly one kind, and its words are what the
effects table has always printed (these strings are the CLI's output before the kinds had words)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from refcamp.engine.effects import EFFECTS, said
from refcamp.engine.kinds import KINDS, EffectKind
from refcamp.models import Effect

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

SRC = Path(__file__).resolve().parents[2] / "src" / "refcamp"
P = "recipientIntegrationId"

# (effectType, props, the words the CLI printed)
SAMPLES = [
    ("referralCreated", {"value": "ABCD-2345"}, "referral code ABCD-2345 created"),
    ("acceptReferral", {"value": "ABCD-2345"}, "referral code ABCD-2345 accepted"),
    (
        "rejectReferral",
        {
            "value": "ABCD-2345",
            "rejectionReason": "ReferralExpired",
            "details": "ABCD-2345 expired at 2026-01-01T00:00:00Z",
        },
        "referral code ABCD-2345 rejected: ReferralExpired "
        "(ABCD-2345 expired at 2026-01-01T00:00:00Z)",
    ),
    ("rollbackReferral", {"value": "ABCD-2345"}, "use of referral code ABCD-2345 given back"),
    (
        "addLoyaltyPoints",
        {
            "name": "Welcome",
            "programId": "points",
            "subLedgerId": "",
            "value": 100,
            P: "ana",
            "transactionUUID": None,
        },
        "+100 points for ana in points (Welcome), not booked until the session closes",
    ),
    (
        "addLoyaltyPoints",
        {
            "name": "Welcome",
            "programId": "points",
            "subLedgerId": "",
            "value": 100,
            P: "ana",
            "transactionUUID": "t-1",
            "startDate": "2026-02-01T00:00:00Z",
            "expiryDate": "2027-02-01T00:00:00Z",
        },
        "+100 points for ana in points (Welcome), pending until 2026-02-01T00:00:00Z, "
        "expire 2027-02-01T00:00:00Z",
    ),
    (
        "rollbackAddedLoyaltyPoints",
        {"programId": "points", "subLedgerId": "", "value": 40, P: "ana", "transactionUUID": "t-2"},
        "-40 points for ana in points",
    ),
    (
        "rollbackDeductedLoyaltyPoints",
        {"programId": "points", "subLedgerId": "", "value": 40, P: "ana", "transactionUUID": "t-3"},
        "+40 points for ana in points",
    ),
    ("acceptCoupon", {"value": "SAVE-10"}, "coupon SAVE-10 accepted"),
    (
        "rejectCoupon",
        {
            "value": "SAVE-10",
            "rejectionReason": "CouponNotFound",
            "details": "no coupon code 'SAVE-10' exists",
        },
        "coupon SAVE-10 rejected: CouponNotFound (no coupon code 'SAVE-10' exists)",
    ),
    ("rollbackCoupon", {"value": "SAVE-10"}, "use of coupon SAVE-10 given back"),
    ("couponCreated", {"value": "SAVE-10", "profileId": "ana"}, "coupon SAVE-10 created for ana"),
    (
        "reserveCoupon",
        {"couponValue": "SAVE-10", "profileIntegrationId": "ana", "isNewReservation": True},
        "coupon SAVE-10 reserved for ana",
    ),
    (
        "reserveCoupon",
        {"couponValue": "SAVE-10", "profileIntegrationId": "ana", "isNewReservation": False},
        "coupon SAVE-10 was already reserved for ana",
    ),
    (
        "deductLoyaltyPoints",
        {
            "ruleTitle": "",
            "programId": "points",
            "subLedgerId": "",
            "value": 50,
            P: "ana",
            "transactionUUID": None,
            "name": "Redeem",
        },
        "-50 points for ana in points (Redeem)",
    ),
    (
        "deductLoyaltyPoints",
        {"ruleTitle": "", "programId": "points", "value": 50, P: "ana", "name": ""},
        "-50 points for ana in points",
    ),
    (
        "setDiscount",
        {"name": "Ten off", "value": 10.0, "scope": "sessionTotal"},
        "discount 'Ten off': 10 off the total",
    ),
    (
        "setDiscount",
        {"name": "Shoes", "value": 7.5, "scope": "cartItems"},
        "discount 'Shoes': 7.50 on matching items",
    ),
    (
        "rollbackDiscount",
        {"name": "Ten off", "value": 2.25},
        "discount 'Ten off' of 2.25 rolled back",
    ),
    (
        "showNotification",
        {"notificationType": "info", "title": "Hello", "body": "Welcome back"},
        "[info] Hello: Welcome back",
    ),
    (
        "updateAttribute",
        {"path": "profile.attributes.tier", "value": "gold é"},
        'profile.attributes.tier = "gold é"',
    ),
    (
        "addToAudience",
        {"audienceName": "vip", "profileIntegrationId": "ana"},
        "ana joins audience 'vip'",
    ),
    (
        "removeFromAudience",
        {"audienceName": "vip", "profileIntegrationId": "ana"},
        "ana leaves audience 'vip'",
    ),
    (
        "customEffect",
        {"name": "confetti", "payload": {"colour": "gold", "n": 3}},
        'confetti {"colour": "gold", "n": 3}',
    ),
    (
        "setDiscountPerItem",
        {"name": "5forALL", "value": 5.0, "position": 1, "subPosition": 0},
        "discount '5forALL': 5 on cart item 1 (unit 0)",
    ),
    ("someFutureEffect", {"a": 1, "b": "x"}, "a=1, b=x"),
]


def emitted_types() -> set[str]:
    """Every effectType refcamp can emit: the campaign file's kinds, and the ones the engine and
    the service make (string literals such as "acceptCoupon" or "rollbackDiscount" in src/)."""
    found = {kind.effect_type for kind in EFFECTS.values()}
    made = re.compile(r"^(accept|reject|rollback)[A-Z][A-Za-z]+$")
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and made.match(node.value):
                found.add(node.value)
    return found


def test_every_emitted_type_has_one_kind_with_words():
    emitted = emitted_types()
    assert "rollbackDeductedLoyaltyPoints" in emitted  # made by the service, not the engine
    assert sorted(emitted - set(KINDS)) == []
    for effect_type in emitted:
        kind = KINDS[effect_type]
        assert kind.effect_type == effect_type
        assert kind.said is not EffectKind.said, f"{effect_type} has no words"


def test_a_kind_named_in_toml_is_the_same_kind_by_effect_type():
    for name, kind in EFFECTS.items():
        assert kind.name == name
        assert KINDS[kind.effect_type] is kind
    made = [kind for kind in KINDS.values() if kind.name is None]
    assert {k.effect_type for k in made} >= {"acceptReferral", "rejectCoupon", "rollbackDiscount"}


def test_every_kind_has_a_sample():
    assert set(KINDS) <= {effect_type for effect_type, _, _ in SAMPLES}


@pytest.mark.parametrize(("effect_type", "props", "words"), SAMPLES)
def test_words_are_what_the_cli_printed(effect_type, props, words):
    effect = Effect("welcome", "r1", 0, "rule", effect_type, props)
    assert said(effect) == words


class FakePort:
    """A BookingPort that records what a kind asked of it (the service's does it in SQLite)."""

    def __init__(self, final: bool = True, points: int = 0) -> None:
        self.final, self.session_id, self.points = final, "s1", points
        self.calls: list[tuple] = []
        self.notes: list[str] = []

    def __getattr__(self, name: str):
        def call(*args):
            self.calls.append((name, *args))
            return {"create_code": "NEW-CODE", "add_entry": "uuid-1"}.get(name)

        return call

    def spendable(self, profile_id: str, program: str) -> int:
        return self.points

    def coupon(self, code: str):
        return None

    def note(self, text: str) -> None:
        self.notes.append(text)


def deduction(points: int) -> Effect:
    props = {"programId": "points", "value": points, P: "ana", "transactionUUID": None}
    return Effect("c", "r", 0, "rule", "deductLoyaltyPoints", {**props, "name": "Redeem"})


def test_a_deduction_is_checked_against_what_the_port_says_is_spendable():
    port = FakePort(points=30)
    assert KINDS["deductLoyaltyPoints"].book(port, deduction(50)) is None
    assert port.notes == [
        "deduct_loyalty_points: ana has 30 points in points, not 50; nothing deducted"
    ]
    assert port.calls == []
    booked = KINDS["deductLoyaltyPoints"].book(port, deduction(30))
    assert booked is not None and booked.props["transactionUUID"] == "uuid-1"
    assert port.calls[0][:3] == ("add_entry", deduction(30), "subtraction")


def test_an_open_session_books_no_points_and_no_code_uses():
    port = FakePort(final=False, points=100)
    added = Effect("c", "r", 0, "rule", "addLoyaltyPoints", {"value": 5}, {"start_date": None})
    assert KINDS["addLoyaltyPoints"].book(port, added) is added
    assert KINDS["deductLoyaltyPoints"].book(port, deduction(5)) == deduction(5)
    accepted = Effect("c", "r", 0, "rule", "acceptCoupon", {"value": "SAVE-10"})
    assert KINDS["acceptCoupon"].book(port, accepted) is accepted
    assert port.calls == []


def test_a_created_code_gets_the_value_the_port_drew():
    port = FakePort()
    effect = Effect("c", "r", 0, "rule", "couponCreated", {"value": None, "profileId": "ana"})
    booked = KINDS["couponCreated"].book(port, effect)
    assert booked is not None and booked.props == {"value": "NEW-CODE", "profileId": "ana"}
    assert port.calls == [("create_code", "coupon", effect)]
