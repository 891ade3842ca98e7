"""What tests/engine/ shares: campaigns written as TOML text and read by the real loader,
facts built by hand, and the questions asked of an Evaluation (the TOML builders `campaign`,
`rule` and `attribute` are conftest's, shared with the CLI's rule stories). Nothing here touches
a state file or the CLI: these tests call `refcamp.engine.evaluate` as the service does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import HIT, WALLET, attribute, campaign, rule  # noqa: F401 (for the tests)

from refcamp.campaigns import load
from refcamp.engine import Check, Evaluation, Facts
from refcamp.errors import CampaignFileError
from refcamp.models import CartItem, Catalog, Effect, Profile, Referral, Session
from refcamp.tables import Problem

NOW = datetime(2026, 5, 1, tzinfo=UTC)
UPDATED = ("talon_session_updated",)


def limits(*written: tuple[str, int, str]) -> str:
    """[[campaign.limits]] tables, (action, limit, per) each: the `extra` of `campaign`."""
    return "".join(
        f'\n[[campaign.limits]]\naction = "{a}"\nlimit = {n}\nper = "{per}"\n'
        for a, n, per in written
    )


def catalog(*texts: str) -> Catalog:
    """The catalog of a directory holding one campaign file per text (campaign1.toml, ...),
    read by the loader the CLI uses."""
    with tempfile.TemporaryDirectory() as directory:
        for index, text in enumerate(texts, 1):
            (Path(directory) / f"campaign{index}.toml").write_text(text, encoding="utf-8")
        return load(Path(directory))


def problems(*texts: str) -> list[Problem]:
    """The problems the loader reports for these campaign files (it must report some)."""
    with pytest.raises(CampaignFileError) as raised:
        catalog(*texts)
    return list(raised.value.problems)


def mistakes(*texts: str) -> list[tuple[str, str]]:
    """(place, message) of each problem: its place within the file, e.g. "rule 1 'r': effect 1:
    amount", so the temporary directory's name does not matter."""
    return [(p.parts()["place"], p.message) for p in problems(*texts)]


def profile(pid: str = "P", **attributes: Any) -> Profile:
    return Profile(pid, attributes, NOW, NOW)


def item(sku: str = "a", price: float = 0, quantity: int = 1, **fields: Any) -> CartItem:
    """A cart item (name, category, attributes as keywords)."""
    return CartItem(sku, quantity, price=price, **fields)


def session(
    *items: CartItem,
    profile_id: str | None = "P",
    state: str = "open",
    costs: Mapping[str, float] | None = None,
    **fields: Any,
) -> Session:
    """Session S1 of `profile_id` (attributes, referral_code, coupon_codes as keywords)."""
    return Session("S1", profile_id, state, tuple(items), additional_costs=costs or {}, **fields)


SESSION_FIELDS = ("attributes", "costs", "referral_code", "coupon_codes")


def facts(
    *items: CartItem,
    events: tuple[str, ...] = UPDATED,
    customer: Profile | None = None,
    anonymous: bool = False,
    sessionless: bool = False,
    **fields: Any,
) -> Facts:
    """The facts of a request by customer P (or `customer`; nobody when `anonymous`) whose
    session S1 holds `items` (no session when `sessionless`). The session's attributes, costs,
    referral_code and coupon_codes, and any other Facts field (audiences, event_attributes,
    referral, coupons, usage, campaign_states, now) are keywords."""
    who = None if anonymous else (customer or profile())
    mine = {key: fields.pop(key) for key in SESSION_FIELDS if key in fields}
    owned = None if sessionless else session(*items, profile_id=who.id if who else None, **mine)
    now = fields.pop("now", NOW)
    return Facts(now, events, who, owned, **fields)


# --- questions asked of an evaluation ------------------------------------------------------------


def hit(evaluation: Evaluation) -> bool:
    """Whether the test rule fired: its `hit` notification is among the effects."""
    return any(
        e.effect_type == "showNotification" and e.props["title"] == "hit"
        for e in evaluation.effects
    )


def types(evaluation: Evaluation) -> list[str]:
    return [e.effect_type for e in evaluation.effects]


def fired_rules(evaluation: Evaluation) -> list[str]:
    """The names of the rules whose effects were planned, in the order of the effects."""
    return [e.rule_name for e in evaluation.effects]


def failed(evaluation: Evaluation, name: str = "r") -> tuple[int, Check]:
    """The first failing condition of the rule named `name`: its index and its Check."""
    result = next(r for r in evaluation.rules if r.rule_name == name)
    assert not result.fired, result
    condition = result.failed_condition
    assert condition is not None
    return condition.index, condition.check


def effect(evaluation: Evaluation, effect_type: str) -> Mapping[str, Any]:
    """The props of the one effect of this type."""
    found = [e for e in evaluation.effects if e.effect_type == effect_type]
    assert len(found) == 1, evaluation.effects
    return found[0].props


def one(evaluation: Evaluation, effect_type: str) -> Effect:
    """The one effect of this type, with its params (what the service needs to carry it out)."""
    found = [e for e in evaluation.effects if e.effect_type == effect_type]
    assert len(found) == 1, evaluation.effects
    return found[0]


def referral(**fields: Any) -> Referral:
    """Code CODE-1 of campaign `ref`, made by advocate ADV, unlimited and never expiring (fields
    override)."""
    values: dict[str, Any] = {
        "code": "CODE-1",
        "campaign_id": "ref",
        "advocate_id": "ADV",
        "friend_id": None,
        "usage_limit": 0,
        "usage_counter": 0,
        "start_date": None,
        "expiry_date": None,
        "created": NOW,
    }
    return Referral(**{**values, **fields})
