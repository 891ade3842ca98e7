"""Coupons, custom events and campaign authoring, through the CLI.

Coupons: `coupon create/list/show/reserve`, and the verdict each coupon code a session carries
gets (acceptCoupon, or rejectCoupon with Talon.One's rejection reason); closing books the use,
cancelling a closed session gives it back. Custom events: `event track`, whose points are booked
at once. Authoring: `campaign new` templates, `campaign validate` and `campaign show`.

Every test starts from a fresh state file (conftest) and a writable copy of the shipped samples
as the campaign directory (both samples start disabled); the extra campaigns are TOML files
written into that directory. "Now" is fixed (REFCAMP_NOW) unless a command passes --now.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_input_error, check_db, ok, program_of, talon_id

Run = Callable[..., Any]  # conftest's `run` fixture

T0 = "2026-05-01T00:00:00Z"
T0_ISO = "2026-05-01T00:00:00.000Z"
CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SPRING_SHAPE = re.compile(rf"^SPRING-[{CHARS}]{{4}}$")
BASIC_SHAPE = re.compile(rf"^BASIC-[{CHARS}]{{4}}$")
# A Talon.One Coupon's fields that are always there; startDate, expiryDate and
# recipientIntegrationId are left out when they have no value.
COUPON_KEYS = {
    "id",
    "value",
    "campaignId",
    "usageLimit",
    "usageCounter",
    "attributes",
    "created",
}
SPRING = "spring-coupons"
MEDIUM = "medium-referral"
BASIC = "coupon-basic"
OTHER = "coupon-other"
# An Accessories item and another one: 70 in all.
CART_70 = (
    "--item",
    "sku=shoe-1,name=Shoe,price=40,quantity=1,category=Shoes",
    "--item",
    "sku=belt-1,name=Belt,price=30,quantity=1,category=Accessories",
)
CART_30 = ("--item", "sku=sock-1,name=Socks,price=30,quantity=1,category=Shoes")


def coupon_campaign(campaign_id: str, prefix: str, extra: str = "") -> str:
    """A coupon campaign: a valid coupon takes 5 off (open or closed session) and earns 10
    points in its own wallet on closing. `extra` is added to the [campaign] table's section."""
    return f"""
[campaign]
id = "{campaign_id}"
name = "Coupons {campaign_id}"
features = ["coupons", "loyalty"]

[campaign.coupons]
pattern = "{prefix}-####"
characters = "{CHARS}"
usage_limit = 1
{extra}

[[loyalty_program]]
id = "{campaign_id}-wallet"
name = "Wallet of {campaign_id}"

[[rules]]
name = "5 off with a coupon"
when = [{{ coupon = "valid" }}]
then = [{{ effect = "set_discount", name = "5 off", amount = 5 }}]

[[rules]]
name = "Points for closing with a coupon"
when = [{{ coupon = "valid" }}, {{ event = "talon_session_closed" }}]
[[rules.then]]
effect = "add_loyalty_points"
program = "{campaign_id}-wallet"
points = 10
reason = "Coupon bonus"
"""


REVIEWS = """
[campaign]
id = "reviews"
name = "Points for reviews"
features = ["loyalty"]

[[loyalty_program]]
id = "review-wallet"
name = "Review wallet"

[[rules]]
name = "Points for a good review"
when = [{ event = "review_posted" }, { attribute = "event.attributes.stars", op = ">=", value = 4 }]
[[rules.then]]
effect = "add_loyalty_points"
program = "review-wallet"
points = 20
reason = "Thanks for the review"

[[rules]]
name = "Points for reviewing a big cart"
when = [{ event = "cart_reviewed" }, { attribute = "session.total", op = ">=", value = 100 }]
[[rules.then]]
effect = "add_loyalty_points"
program = "review-wallet"
points = 7
reason = "Big cart review"
"""


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fixed_now(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFCAMP_NOW", T0)


@pytest.fixture
def camps(campaigns_dir: Path) -> Path:
    """The campaign directory (a copy of the samples, in REFCAMP_CAMPAIGNS)."""
    return campaigns_dir


def add(run: Run, directory: Path, campaign_id: str, text: str, activate: bool = True) -> None:
    (directory / f"{campaign_id}.toml").write_text(text)
    if activate:
        ok(run("campaign", "activate", campaign_id))


@pytest.fixture
def basic(run: Run, camps: Path) -> Run:
    """coupon-basic, activated."""
    add(run, camps, BASIC, coupon_campaign(BASIC, "BASIC"))
    return run


@pytest.fixture
def spring(run: Run, camps: Path) -> Run:
    """The shipped spring-coupons sample, activated."""
    ok(run("campaign", "activate", SPRING))
    return run


@pytest.fixture
def reviews(run: Run, camps: Path) -> Run:
    add(run, camps, "reviews", REVIEWS)
    return run


def create(run: Run, campaign: str, *args: str) -> list[dict[str, Any]]:
    return ok(run("coupon", "create", "--campaign", campaign, *args, "--json")).json


def new_code(run: Run, campaign: str, *args: str) -> str:
    created = create(run, campaign, *args)
    assert len(created) == 1
    return created[0]["value"]


def coupon(run: Run, code: str) -> dict[str, Any]:
    return ok(run("coupon", "show", code, "--json")).json


def counter(run: Run, code: str) -> int:
    return coupon(run, code)["usageCounter"]


def close(run: Run, *args: str, now: str | None = None) -> Any:
    options = ("--now", now) if now else ()
    return ok(run(*options, "session", "close", *args, "--json")).json


def update(run: Run, *args: str) -> Any:
    return ok(run("session", "update", *args, "--json")).json


def types(response: Any) -> list[str]:
    return [e["effectType"] for e in response["effects"]]


def rejected(response: Any) -> dict[str, Any]:
    """The props of the one rejectCoupon effect of a response that must have no other effect."""
    assert types(response) == ["rejectCoupon"], response["effects"]
    return response["effects"][0]["props"]


def balance(run: Run, profile: str, program: str) -> dict[str, int]:
    loyalty = ok(run("loyalty", "balance", profile, "--json")).json
    return program_of(loyalty, program)["ledger"]


def points(run: Run, profile: str, program: str) -> int:
    return balance(run, profile, program)["currentBalance"]


# --- coupon create -------------------------------------------------------------------------------


def test_create_draws_a_code_from_the_campaign_pattern(run: Run, camps: Path) -> None:
    created = create(run, SPRING)
    assert len(created) == 1
    item = created[0]
    assert set(item) == COUPON_KEYS | {"expiryDate"}
    assert isinstance(item["id"], int)
    assert SPRING_SHAPE.match(item["value"]), item
    assert item["campaignId"] == talon_id(run, "campaign", SPRING)
    assert "recipientIntegrationId" not in item  # no recipient
    assert item["usageLimit"] == 1  # spring-coupons' [campaign.coupons] usage_limit
    assert item["usageCounter"] == 0
    assert "startDate" not in item  # no start date
    assert item["expiryDate"] == "2026-05-31T00:00:00.000Z"  # valid_for = "30D"
    assert item["attributes"] == {}
    assert item["created"] == T0_ISO
    assert coupon(run, item["value"]) == item
    check_db(run)


def test_count_makes_that_many_distinct_codes(run: Run, camps: Path) -> None:
    created = create(run, SPRING, "--count", "5")
    codes = [c["value"] for c in created]
    assert len(codes) == 5
    assert len(set(codes)) == 5
    assert all(SPRING_SHAPE.match(c) for c in codes), codes
    listed = ok(run("coupon", "list", "--campaign", SPRING, "--json")).json
    assert sorted(c["value"] for c in listed) == sorted(codes)
    check_db(run)


def test_quiet_create_prints_only_the_codes(run: Run, camps: Path) -> None:
    result = ok(run("coupon", "create", "--campaign", SPRING, "--count", "3", "-q"))
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(SPRING_SHAPE.match(line) for line in lines), lines


def test_import_a_code_with_recipient_limit_and_dates(run: Run, camps: Path) -> None:
    created = create(
        run,
        SPRING,
        "--code",
        "WELCOME10",
        "--recipient",
        "ANN",
        "--usage-limit",
        "3",
        "--starts",
        "2026-05-10T00:00:00Z",
        "--expires",
        "2026-06-10T00:00:00Z",
    )
    assert created == [
        {
            "id": created[0]["id"],
            "value": "WELCOME10",
            "campaignId": talon_id(run, "campaign", SPRING),
            "recipientIntegrationId": "ANN",
            "usageLimit": 3,
            "usageCounter": 0,
            "startDate": "2026-05-10T00:00:00.000Z",
            "expiryDate": "2026-06-10T00:00:00.000Z",
            "attributes": {},
            "created": T0_ISO,
        }
    ]
    ok(run("profile", "show", "ANN"))  # the recipient's profile was created
    check_db(run)


def test_an_existing_code_is_exit_1_and_changes_nothing(run: Run, camps: Path) -> None:
    first = create(run, SPRING, "--code", "DUP-1")
    again = run("coupon", "create", "--campaign", SPRING, "--code", "DUP-1", "--usage-limit", "9")
    assert again.exit_code == 1, again
    assert "DUP-1" in again.stderr
    assert again.stdout == ""
    assert coupon(run, "DUP-1") == first[0]
    assert len(ok(run("coupon", "list", "--json")).json) == 1
    check_db(run)


def test_code_with_count_2_is_exit_2(run: Run, camps: Path) -> None:
    result = run("coupon", "create", "--campaign", SPRING, "--code", "X-1", "--count", "2")
    assert_input_error(result, "code", "count", "contradict")
    assert ok(run("coupon", "list", "--json")).json == []


def test_unknown_campaign_is_exit_1(run: Run, camps: Path) -> None:
    result = run("coupon", "create", "--campaign", "no-such-campaign")
    assert result.exit_code == 1, result
    assert "no-such-campaign" in result.stderr
    assert ok(run("coupon", "list", "--json")).json == []


def test_list_filters_by_campaign_and_recipient(basic: Run) -> None:
    run = basic
    mine = new_code(run, SPRING, "--recipient", "ANN")
    other = new_code(run, SPRING)
    basic_code = new_code(run, BASIC, "--recipient", "ANN")
    everything = ok(run("coupon", "list", "--json")).json
    assert sorted(c["value"] for c in everything) == sorted([mine, other, basic_code])
    spring_only = ok(run("coupon", "list", "--campaign", SPRING, "--json")).json
    assert sorted(c["value"] for c in spring_only) == sorted([mine, other])
    anns = ok(run("coupon", "list", "--recipient", "ANN", "--json")).json
    assert sorted(c["value"] for c in anns) == sorted([mine, basic_code])
    both = ok(run("coupon", "list", "--campaign", SPRING, "--recipient", "ANN", "--json")).json
    assert [c["value"] for c in both] == [mine]
    optional = {"startDate", "expiryDate", "recipientIntegrationId"}
    assert all(set(c) - optional == COUPON_KEYS for c in everything)
    assert all(("recipientIntegrationId" in c) is (c["value"] != other) for c in everything)


def test_show_an_unknown_code_is_exit_1(run: Run, camps: Path) -> None:
    ok(run("profile", "update", "SOMEONE"))  # a state file to look in
    result = run("coupon", "show", "NOPE-0000", "--json")
    assert result.exit_code == 1, result
    assert "NOPE-0000" in result.stderr
    assert result.stdout == ""


# --- coupon reserve ------------------------------------------------------------------------------


def test_reserve_is_new_then_not_and_creates_the_profile(run: Run, camps: Path) -> None:
    """A soft reservation (createCouponReservation): the coupon keeps no recipient, and shows
    in the customer's inventory (`profile show --json` coupons)."""
    code = new_code(run, SPRING)
    assert run("profile", "show", "ANN").exit_code == 1
    first = ok(run("coupon", "reserve", code, "--profile", "ANN", "--json")).json
    assert first["isNewReservation"] is True
    assert first["value"] == code
    assert "recipientIntegrationId" not in first
    second = ok(run("coupon", "reserve", code, "--profile", "ANN", "--json")).json
    assert second["isNewReservation"] is False
    assert "recipientIntegrationId" not in coupon(run, code)
    shown = ok(run("profile", "show", "ANN", "--json")).json
    assert [c["value"] for c in shown["coupons"]] == [code]
    check_db(run)


def test_reserve_for_several_customers_then_unreserve_one(run: Run, camps: Path) -> None:
    code = new_code(run, SPRING)
    said = ok(run("coupon", "reserve", code, "--profile", "ANN", "--profile", "BOB")).stdout
    assert f"{code} is now reserved for ANN." in said and f"{code} is now reserved for BOB." in said
    ok(run("coupon", "unreserve", code, "--profile", "ANN"))
    assert ok(run("profile", "show", "ANN", "--json")).json["coupons"] == []
    assert [c["value"] for c in ok(run("profile", "show", "BOB", "--json")).json["coupons"]] == [
        code
    ]
    check_db(run)


def test_reserve_a_coupon_reserved_for_someone_else_is_exit_1(run: Run, camps: Path) -> None:
    code = new_code(run, SPRING, "--recipient", "ANN")
    result = run("coupon", "reserve", code, "--profile", "BOB", "--json")
    assert result.exit_code == 1, result
    assert "ANN" in result.stderr
    assert result.stdout == ""
    assert coupon(run, code)["recipientIntegrationId"] == "ANN"
    check_db(run)


def test_reserve_an_unknown_code_is_exit_1(run: Run, camps: Path) -> None:
    result = run("coupon", "reserve", "NOPE-0000", "--profile", "ANN")
    assert result.exit_code == 1, result
    assert run("profile", "show", "ANN").exit_code == 1


# --- sessions with coupons: accepted -------------------------------------------------------------


def test_open_session_shows_accept_but_books_nothing_until_close(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC)
    opened = update(run, "S1", "--profile", "P1", "--coupon", code, *CART_30)
    assert types(opened) == ["acceptCoupon", "setDiscount"]
    assert opened["effects"][0]["props"] == {"value": code}
    assert opened["customerSession"]["couponCodes"] == [code]
    assert opened["customerSession"]["state"] == "open"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0

    closed = close(run, "S1")
    assert types(closed) == ["acceptCoupon", "setDiscount", "addLoyaltyPoints"]
    assert closed["effects"][0]["props"] == {"value": code}
    assert closed["effects"][0]["campaignId"] == talon_id(run, "campaign", BASIC)
    assert closed["effects"][1]["props"]["value"] == 5
    assert counter(run, code) == 1
    assert points(run, "P1", f"{BASIC}-wallet") == 10
    check_db(run)


def test_coupon_codes_in_a_payload_are_redeemed(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC)
    body = {
        "customerSession": {
            "profileId": "P1",
            "state": "closed",
            "cartItems": [{"sku": "sku-1", "quantity": 2, "price": 10}],
            "couponCodes": [code],
        },
        "responseContent": ["coupons"],
    }
    result = ok(run("session", "update", "S1", "--payload", "-", "--json", input=json.dumps(body)))
    data = result.json
    assert types(data) == ["acceptCoupon", "setDiscount", "addLoyaltyPoints"]
    assert data["customerSession"]["couponCodes"] == [code]
    assert [c["value"] for c in data["coupons"]] == [code]  # responseContent: coupons
    assert data["coupons"][0]["usageCounter"] == 1
    assert counter(run, code) == 1
    check_db(run)


def test_two_coupons_of_one_campaign_one_is_accepted(basic: Run) -> None:
    run = basic
    first, second = (c["value"] for c in create(run, BASIC, "--count", "2"))
    response = close(run, "--profile", "P1", "--coupon", first, "--coupon", second, *CART_30)
    accepts = [e for e in response["effects"] if e["effectType"] == "acceptCoupon"]
    rejects = [e for e in response["effects"] if e["effectType"] == "rejectCoupon"]
    assert len(accepts) == 1
    assert len(rejects) == 1
    accepted, other = accepts[0]["props"]["value"], rejects[0]["props"]["value"]
    assert {accepted, other} == {first, second}
    assert rejects[0]["props"]["rejectionReason"]
    assert types(response).count("setDiscount") == 1
    assert types(response).count("addLoyaltyPoints") == 1
    assert counter(run, accepted) == 1
    assert counter(run, other) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 10
    check_db(run)


def test_coupons_of_two_campaigns_are_both_accepted(basic: Run, camps: Path) -> None:
    run = basic
    add(run, camps, OTHER, coupon_campaign(OTHER, "OTHER"))
    mine = new_code(run, BASIC)
    theirs = new_code(run, OTHER)
    response = close(run, "--profile", "P1", "--coupon", mine, "--coupon", theirs, *CART_70)
    accepted = {
        e["props"]["value"]: e["campaignId"]
        for e in response["effects"]
        if e["effectType"] == "acceptCoupon"
    }
    assert accepted == {
        mine: talon_id(run, "campaign", BASIC),
        theirs: talon_id(run, "campaign", OTHER),
    }
    assert "rejectCoupon" not in types(response)
    assert counter(run, mine) == 1
    assert counter(run, theirs) == 1
    assert points(run, "P1", f"{BASIC}-wallet") == 10
    assert points(run, "P1", f"{OTHER}-wallet") == 10
    check_db(run)


def test_cancelling_a_closed_session_gives_the_coupon_use_back(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC)
    closed = close(run, "S1", "--profile", "P1", "--coupon", code, *CART_30)
    assert types(closed) == ["acceptCoupon", "setDiscount", "addLoyaltyPoints"]
    assert counter(run, code) == 1

    cancelled = ok(run("session", "cancel", "S1", "--json")).json
    kinds = types(cancelled)
    assert "rollbackCoupon" in kinds
    assert "rollbackDiscount" in kinds
    assert "rollbackAddedLoyaltyPoints" in kinds
    coupon_rollback = next(e for e in cancelled["effects"] if e["effectType"] == "rollbackCoupon")
    assert coupon_rollback["props"] == {"value": code}
    assert coupon_rollback["campaignId"] == talon_id(run, "campaign", BASIC)
    discount = next(e for e in cancelled["effects"] if e["effectType"] == "rollbackDiscount")
    assert discount["props"]["name"] == "5 off"
    assert discount["props"]["value"] == 5
    assert cancelled["customerSession"]["state"] == "cancelled"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0

    again = close(run, "S2", "--profile", "P1", "--coupon", code, *CART_30)
    assert types(again) == ["acceptCoupon", "setDiscount", "addLoyaltyPoints"]
    assert counter(run, code) == 1
    assert points(run, "P1", f"{BASIC}-wallet") == 10
    check_db(run)


# --- sessions with coupons: one test per rejection reason ----------------------------------------


def test_unknown_coupon_is_coupon_not_found(basic: Run) -> None:
    run = basic
    props = rejected(close(run, "--profile", "P1", "--coupon", "BASIC-ZZZZ", *CART_30))
    assert props["value"] == "BASIC-ZZZZ"
    assert props["rejectionReason"] == "CouponNotFound"
    assert points(run, "P1", f"{BASIC}-wallet") == 0
    assert run("coupon", "show", "BASIC-ZZZZ").exit_code == 1
    check_db(run)


def test_coupon_of_a_deactivated_campaign_is_part_of_not_running_campaign(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC)
    ok(run("campaign", "deactivate", BASIC))
    props = rejected(close(run, "--profile", "P1", "--coupon", code, *CART_30))
    assert props["value"] == code
    assert props["rejectionReason"] == "CouponPartOfNotRunningCampaign"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0
    check_db(run)


WINDOW = """
start = 2026-06-01T00:00:00Z
end = 2026-07-01T00:00:00Z
"""


@pytest.mark.parametrize("when", ["2026-05-15T00:00:00Z", "2026-07-15T00:00:00Z"])
def test_coupon_outside_the_campaign_window_is_part_of_not_running_campaign(
    run: Run, camps: Path, when: str
) -> None:
    text = coupon_campaign(BASIC, "BASIC").replace(
        'features = ["coupons", "loyalty"]', 'features = ["coupons", "loyalty"]' + WINDOW
    )
    add(run, camps, BASIC, text)
    code = new_code(run, BASIC)
    props = rejected(close(run, "--profile", "P1", "--coupon", code, *CART_30, now=when))
    assert props["rejectionReason"] == "CouponPartOfNotRunningCampaign"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0
    # Inside the window the same coupon is accepted.
    inside = close(run, "--profile", "P2", "--coupon", code, now="2026-06-15T00:00:00Z")
    assert types(inside)[0] == "acceptCoupon"
    check_db(run, "--now", "2026-07-15T00:00:00Z")


def test_used_up_coupon_is_coupon_limit_reached(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC, "--usage-limit", "1")
    assert types(close(run, "--profile", "P1", "--coupon", code, *CART_30))[0] == "acceptCoupon"
    props = rejected(close(run, "--profile", "P2", "--coupon", code, *CART_30))
    assert props["value"] == code
    assert props["rejectionReason"] == "CouponLimitReached"
    assert counter(run, code) == 1
    assert points(run, "P2", f"{BASIC}-wallet") == 0
    check_db(run)


def test_coupon_made_for_another_customer_does_not_match(basic: Run) -> None:
    """A hard reservation (a coupon made for a recipient) is theirs alone; a soft one
    (`coupon reserve`) never blocks anybody."""
    run = basic
    code = new_code(run, BASIC, "--recipient", "ANN")
    props = rejected(close(run, "--profile", "BOB", "--coupon", code, *CART_30))
    assert props["rejectionReason"] == "CouponRecipientDoesNotMatch"
    assert counter(run, code) == 0
    assert points(run, "BOB", f"{BASIC}-wallet") == 0
    # ANN, for whom it was made, can redeem it.
    assert types(close(run, "--profile", "ANN", "--coupon", code))[0] == "acceptCoupon"
    soft = new_code(run, BASIC)
    ok(run("coupon", "reserve", soft, "--profile", "ANN"))
    assert types(close(run, "--profile", "BOB", "--coupon", soft, *CART_30))[0] == "acceptCoupon"
    check_db(run)


def test_reserved_coupon_in_an_anonymous_session_does_not_match(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC, "--recipient", "ANN")
    response = close(run, "--anonymous", "--coupon", code, *CART_30)
    props = rejected(response)
    assert props["rejectionReason"] == "CouponRecipientDoesNotMatch"
    assert response["customerSession"]["profileId"] == ""
    assert counter(run, code) == 0
    check_db(run)


def test_expired_coupon_is_coupon_expired(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC, "--expires", "2026-06-01T00:00:00Z")
    later = "2026-06-02T00:00:00Z"
    props = rejected(close(run, "--profile", "P1", "--coupon", code, *CART_30, now=later))
    assert props["rejectionReason"] == "CouponExpired"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0
    check_db(run, "--now", later)


def test_coupon_not_yet_valid_is_start_date_in_future(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC, "--starts", "2026-06-01T00:00:00Z")
    props = rejected(close(run, "--profile", "P1", "--coupon", code, *CART_30))
    assert props["rejectionReason"] == "CouponStartDateInFuture"
    assert counter(run, code) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 0
    later = "2026-06-02T00:00:00Z"
    accepted = close(run, "--profile", "P1", "--coupon", code, *CART_30, now=later)
    assert types(accepted)[0] == "acceptCoupon"
    check_db(run, "--now", later)


def test_valid_coupon_with_a_too_small_cart_is_rejected_by_condition(spring: Run) -> None:
    run = spring
    code = new_code(run, SPRING)
    props = rejected(close(run, "--profile", "P1", "--coupon", code, *CART_30))
    assert props["value"] == code
    assert props["rejectionReason"] == "CouponRejectedByCondition"
    assert props["conditionIndex"] == 1  # session.total >= 50, after { coupon = "valid" }
    assert "session.total" in props["details"]
    assert counter(run, code) == 0
    check_db(run)


def test_anonymous_session_with_a_per_profile_limited_coupon_is_profile_required(
    spring: Run,
) -> None:
    run = spring
    code = new_code(run, SPRING)
    response = close(run, "--anonymous", "--coupon", code, *CART_70)
    props = rejected(response)
    assert props["rejectionReason"] == "ProfileRequired"
    assert response["customerSession"]["profileId"] == ""
    assert counter(run, code) == 0
    check_db(run)


CAMPAIGN_LIMIT = """
[[campaign.limits]]
action = "redeemCoupon"
limit = 1
per = "campaign"
"""
PROFILE_LIMIT = CAMPAIGN_LIMIT.replace('"campaign"', '"profile"')


def test_campaign_redeem_coupon_limit_is_campaign_limit_reached(run: Run, camps: Path) -> None:
    add(run, camps, BASIC, coupon_campaign(BASIC, "BASIC", CAMPAIGN_LIMIT))
    first, second = (c["value"] for c in create(run, BASIC, "--count", "2", "--usage-limit", "0"))
    assert types(close(run, "--profile", "P1", "--coupon", first, *CART_30))[0] == "acceptCoupon"
    props = rejected(close(run, "--profile", "P2", "--coupon", second, *CART_30))
    assert props["value"] == second
    assert props["rejectionReason"] == "CampaignLimitReached"
    assert counter(run, second) == 0
    assert points(run, "P2", f"{BASIC}-wallet") == 0
    check_db(run)


def test_profile_redeem_coupon_limit_is_profile_limit_reached(run: Run, camps: Path) -> None:
    add(run, camps, BASIC, coupon_campaign(BASIC, "BASIC", PROFILE_LIMIT))
    first, second = (c["value"] for c in create(run, BASIC, "--count", "2", "--usage-limit", "0"))
    assert types(close(run, "--profile", "P1", "--coupon", first, *CART_30))[0] == "acceptCoupon"
    props = rejected(close(run, "--profile", "P1", "--coupon", second, *CART_30))
    assert props["value"] == second
    assert props["rejectionReason"] == "ProfileLimitReached"
    assert counter(run, second) == 0
    assert points(run, "P1", f"{BASIC}-wallet") == 10  # from the first session only
    # Another customer may still use it.
    assert types(close(run, "--profile", "P2", "--coupon", second))[0] == "acceptCoupon"
    check_db(run)


# --- the shipped spring-coupons sample, end to end -----------------------------------------------


@pytest.mark.stateless
def test_spring_coupons_sample_validates(run: Run, camps: Path) -> None:
    result = ok(run("campaign", "validate", str(camps / "spring-coupons.toml"), "--json"))
    assert result.json["valid"] is True
    assert result.json["campaigns"] == [SPRING]
    assert ok(run("campaign", "validate", "--json")).json["valid"] is True


def register_ann(run: Run) -> tuple[dict[str, Any], str]:
    ok(run("campaign", "activate", SPRING))
    ok(run("campaign", "activate", MEDIUM))
    data = ok(run("profile", "update", "ANN", "--json")).json
    return data, data["createdCoupons"][0]["value"]


def test_spring_registration_creates_a_referral_code_and_a_coupon(run: Run, camps: Path) -> None:
    data, code = register_ann(run)
    effects = data["effects"]
    assert types(data) == ["referralCreated", "couponCreated", "showNotification"]
    medium, spring = talon_id(run, "campaign", MEDIUM), talon_id(run, "campaign", SPRING)
    assert [e["campaignId"] for e in effects] == [medium, spring, spring]
    assert effects[1]["props"] == {"value": code, "profileId": "ANN"}
    assert effects[2]["props"]["notificationType"] == "info"
    assert effects[2]["props"]["title"] == "Welcome!"
    assert len(data["createdReferrals"]) == 1
    assert data["createdReferrals"][0]["advocateProfileIntegrationId"] == "ANN"
    assert len(data["createdCoupons"]) == 1
    created = data["createdCoupons"][0]
    assert SPRING_SHAPE.match(code), code
    assert created["campaignId"] == spring
    assert created["recipientIntegrationId"] == "ANN"
    assert created["usageLimit"] == 1
    assert created["usageCounter"] == 0
    assert created["created"] == T0_ISO
    assert created["expiryDate"] == "2026-05-31T00:00:00.000Z"  # 30 days later
    assert coupon(run, code) == created
    check_db(run)


def test_spring_session_gets_the_coupon_and_both_discounts(run: Run, camps: Path) -> None:
    _, code = register_ann(run)
    opened = update(run, "S1", "--profile", "ANN", "--coupon", code, *CART_70)
    assert opened["customerSession"]["total"] == 70
    assert types(opened) == ["acceptCoupon", "setDiscount", "setDiscount"]
    accept, percent, accessories = opened["effects"]
    assert accept["props"] == {"value": code}
    assert accept["campaignId"] == talon_id(run, "campaign", SPRING)
    assert percent["props"] == {"name": "10% off", "value": 7.0, "scope": "sessionTotal"}
    assert accessories["props"] == {"name": "5 off accessories", "value": 5, "scope": "cartItems"}
    assert counter(run, code) == 0

    closed = close(run, "S1")
    assert types(closed) == ["acceptCoupon", "setDiscount", "setDiscount"]
    assert counter(run, code) == 1

    second = close(run, "S2", "--profile", "ANN", "--coupon", code, *CART_70)
    props = rejected(second)
    assert props["rejectionReason"] == "CouponLimitReached"
    assert counter(run, code) == 1
    check_db(run)


def test_spring_coupon_of_ann_is_not_for_bob(run: Run, camps: Path) -> None:
    _, code = register_ann(run)
    props = rejected(close(run, "--profile", "BOB", "--coupon", code, *CART_70))
    assert props["rejectionReason"] == "CouponRecipientDoesNotMatch"
    assert counter(run, code) == 0
    check_db(run)


def test_spring_coupon_expires_after_30_days(run: Run, camps: Path) -> None:
    _, code = register_ann(run)
    last_day = "2026-05-30T23:59:59Z"
    inside = close(run, "--profile", "ANN", "--coupon", code, *CART_70, "--dry-run", now=last_day)
    assert types(inside)[0] == "acceptCoupon"
    after = "2026-05-31T00:00:00Z"
    props = rejected(close(run, "--profile", "ANN", "--coupon", code, *CART_70, now=after))
    assert props["rejectionReason"] == "CouponExpired"
    assert counter(run, code) == 0
    check_db(run, "--now", after)


def test_spring_limits_each_customer_to_one_coupon(run: Run, camps: Path) -> None:
    _, welcome = register_ann(run)
    assert types(close(run, "--profile", "ANN", "--coupon", welcome, *CART_70))[0] == (
        "acceptCoupon"
    )
    extra = new_code(run, SPRING, "--recipient", "ANN")
    props = rejected(close(run, "--profile", "ANN", "--coupon", extra, *CART_70))
    assert props["rejectionReason"] == "ProfileLimitReached"
    assert counter(run, extra) == 0
    check_db(run)


def test_spring_second_update_of_ann_creates_no_coupon(run: Run, camps: Path) -> None:
    _, code = register_ann(run)
    again = ok(run("profile", "update", "ANN", "--json")).json
    assert again["effects"] == []
    assert again["createdCoupons"] == []
    assert [c["value"] for c in ok(run("coupon", "list", "--json")).json] == [code]


def test_spring_dry_run_registration_saves_no_coupon(run: Run, camps: Path) -> None:
    ok(run("campaign", "activate", SPRING))
    data = ok(run("profile", "update", "ANN", "--dry-run", "--json")).json
    assert types(data) == ["couponCreated", "showNotification"]
    assert data["dryRun"] is True
    code = data["createdCoupons"][0]["value"]
    assert run("coupon", "show", code).exit_code == 1
    assert ok(run("coupon", "list", "--json")).json == []
    check_db(run)


def test_spring_cancelled_redemption_lets_ann_use_her_coupon_again(run: Run, camps: Path) -> None:
    _, code = register_ann(run)
    close(run, "S1", "--profile", "ANN", "--coupon", code, *CART_70)
    cancelled = ok(run("session", "cancel", "S1", "--json")).json
    assert types(cancelled) == ["rollbackCoupon", "rollbackDiscount", "rollbackDiscount"]
    assert [e["props"]["value"] for e in cancelled["effects"][1:]] == [7, 5]
    assert counter(run, code) == 0
    again = close(run, "S2", "--profile", "ANN", "--coupon", code, *CART_70)
    assert types(again) == ["acceptCoupon", "setDiscount", "setDiscount"]
    assert counter(run, code) == 1
    check_db(run)


def test_create_without_coupon_settings_uses_the_default_pattern(run: Run, camps: Path) -> None:
    add(run, camps, "plain", '[campaign]\nid = "plain"\nfeatures = ["coupons"]\n', activate=False)
    created = create(run, "plain")
    assert re.match(rf"^SAVE-[{CHARS}]{{6}}$", created[0]["value"]), created
    assert created[0]["usageLimit"] == 1
    assert "expiryDate" not in created[0]  # no expiry


def test_spring_show_reads_every_rule_in_words(run: Run, camps: Path) -> None:
    result = ok(run("campaign", "show", SPRING))
    text = result.stdout
    assert "a coupon code is valid" in text
    assert "session.total >= 50" in text
    assert "an item with item.category" in text
    assert "Customer Profile Registration" in text
    assert "create a coupon" in text
    assert text.count("Rule ") == 3


# --- custom events -------------------------------------------------------------------------------


def test_event_with_enough_stars_adds_points_at_once(reviews: Run) -> None:
    run = reviews
    data = ok(
        run("event", "track", "review_posted", "--profile", "BOB", "--attr", "stars=5", "--json")
    ).json
    assert types(data) == ["addLoyaltyPoints"]
    props = data["effects"][0]["props"]
    assert props["value"] == 20
    assert props["recipientIntegrationId"] == "BOB"
    assert props["programId"] == talon_id(run, "program", "review-wallet")
    assert props["transactionUUID"]
    assert points(run, "BOB", "review-wallet") == 20
    check_db(run)


def test_event_with_too_few_stars_adds_nothing(reviews: Run) -> None:
    run = reviews
    data = ok(
        run("event", "track", "review_posted", "--profile", "BOB", "--attr", "stars=2", "--json")
    ).json
    assert "addLoyaltyPoints" not in types(data)
    assert points(run, "BOB", "review-wallet") == 0
    check_db(run)


def test_other_event_type_does_not_fire_the_rule(reviews: Run) -> None:
    run = reviews
    data = ok(
        run("event", "track", "review_liked", "--profile", "BOB", "--attr", "stars=5", "--json")
    ).json
    assert data["effects"] == []
    assert points(run, "BOB", "review-wallet") == 0


def test_event_dry_run_books_nothing(reviews: Run) -> None:
    run = reviews
    ok(run("profile", "update", "BOB"))
    result = ok(
        run(
            "event",
            "track",
            "review_posted",
            "--profile",
            "BOB",
            "--attr",
            "stars=5",
            "--dry-run",
            "--json",
        )
    )
    assert types(result.json) == ["addLoyaltyPoints"]
    assert result.json["dryRun"] is True
    assert points(run, "BOB", "review-wallet") == 0
    assert ok(run("loyalty", "ledger", "BOB", "--json")).json == {"hasMore": False, "data": []}
    assert run("profile", "show", "NEWBIE").exit_code == 1
    dry_new = ok(run("event", "track", "review_posted", "--profile", "NEWBIE", "--dry-run"))
    assert dry_new.exit_code == 0
    assert run("profile", "show", "NEWBIE").exit_code == 1
    check_db(run)


def test_event_json_describes_the_event(reviews: Run) -> None:
    run = reviews
    ok(run("session", "update", "S1", "--profile", "BOB"))
    data = ok(
        run(
            "event",
            "track",
            "review_posted",
            "--profile",
            "BOB",
            "--session",
            "S1",
            "--attr",
            "stars=4",
            "--attr",
            "text=great",
            "--json",
        )
    ).json
    event = data["event"]
    assert set(event) >= {"id", "type", "profileId", "sessionId", "attributes", "created"}
    assert event["id"]
    assert event["type"] == "review_posted"
    assert event["profileId"] == "BOB"
    assert event["sessionId"] == "S1"
    assert event["attributes"] == {"stars": 4, "text": "great"}
    assert event["created"] == T0_ISO
    assert data["customerProfile"]["integrationId"] == "BOB"
    check_db(run)


EVENT_BODY = {"profileId": "BOB", "type": "review_posted", "attributes": {"stars": 5}}


def test_event_payload_from_a_file(reviews: Run, tmp_path: Path) -> None:
    run = reviews
    body = tmp_path / "event.json"
    body.write_text(json.dumps(EVENT_BODY))
    data = ok(run("event", "track", "--payload", str(body), "--json")).json
    assert data["event"]["type"] == "review_posted"
    assert data["event"]["profileId"] == "BOB"
    assert data["event"]["attributes"] == {"stars": 5}
    assert types(data) == ["addLoyaltyPoints"]
    assert points(run, "BOB", "review-wallet") == 20
    check_db(run)


def test_event_payload_on_stdin(reviews: Run) -> None:
    run = reviews
    data = ok(run("event", "track", "--payload", "-", "--json", input=json.dumps(EVENT_BODY))).json
    assert data["event"]["type"] == "review_posted"
    assert types(data) == ["addLoyaltyPoints"]
    assert points(run, "BOB", "review-wallet") == 20
    check_db(run)


def test_talon_prefixed_event_type_is_exit_2(reviews: Run) -> None:
    run = reviews
    result = run("event", "track", "talon_session_closed", "--profile", "BOB")
    assert result.exit_code == 2, result
    assert "talon_" in result.stderr
    assert run("profile", "show", "BOB").exit_code == 1


def test_an_event_without_a_profile_is_anonymous_as_over_http(reviews: Run) -> None:
    # As trackEventV2 without profileId: the event is kept and its rules run, but there is no
    # customer to give points to, and none is made up.
    result = reviews("event", "track", "review_posted", "--attr", "stars=5", "--json")
    assert result.exit_code == 0, result
    data = result.json
    assert data["event"]["type"] == "review_posted"
    assert "profileId" not in data["event"] or not data["event"]["profileId"]
    assert [e for e in data["effects"] if e["effectType"] == "addLoyaltyPoints"] == []
    listed = reviews("db", "check", "--json")
    assert listed.exit_code == 0, listed


def test_event_with_an_unknown_session_is_exit_1(reviews: Run) -> None:
    run = reviews
    result = run(
        "event",
        "track",
        "review_posted",
        "--profile",
        "BOB",
        "--session",
        "NOPE",
        "--attr",
        "stars=5",
    )
    assert result.exit_code == 1, result
    assert "NOPE" in result.stderr
    assert run("profile", "show", "BOB").exit_code == 1  # nothing was saved


def test_event_with_a_session_sees_its_cart(reviews: Run) -> None:
    run = reviews
    ok(run("session", "update", "S1", "--profile", "BOB", "--item", "sku=tv,price=150"))
    without = ok(run("event", "track", "cart_reviewed", "--profile", "BOB", "--json")).json
    assert without["effects"] == []
    with_cart = ok(
        run("event", "track", "cart_reviewed", "--profile", "BOB", "--session", "S1", "--json")
    ).json
    assert types(with_cart) == ["addLoyaltyPoints"]
    assert with_cart["effects"][0]["props"]["value"] == 7
    assert points(run, "BOB", "review-wallet") == 7
    check_db(run)


def test_event_points_stay_when_the_session_is_cancelled(reviews: Run) -> None:
    run = reviews
    close(run, "S1", "--profile", "BOB", "--item", "sku=tv,price=150")
    tracked = ok(
        run("event", "track", "cart_reviewed", "--profile", "BOB", "--session", "S1", "--json")
    ).json
    assert types(tracked) == ["addLoyaltyPoints"]
    assert points(run, "BOB", "review-wallet") == 7
    cancelled = ok(run("session", "cancel", "S1", "--json")).json
    assert "rollbackAddedLoyaltyPoints" not in types(cancelled)
    assert points(run, "BOB", "review-wallet") == 7
    check_db(run)


def test_event_with_another_customers_session_is_exit_1(reviews: Run) -> None:
    run = reviews
    ok(run("session", "update", "S1", "--profile", "OWNER", "--item", "sku=tv,price=150"))
    result = run("event", "track", "cart_reviewed", "--profile", "BOB", "--session", "S1")
    assert result.exit_code == 1, result
    assert "OWNER" in result.stderr
    assert run("profile", "show", "BOB").exit_code == 1
    check_db(run)


def test_event_attr_overrides_the_payload(reviews: Run, tmp_path: Path) -> None:
    run = reviews
    body = tmp_path / "event.json"
    body.write_text(json.dumps(EVENT_BODY))
    data = ok(run("event", "track", "--payload", str(body), "--attr", "stars=1", "--json")).json
    assert data["event"]["attributes"] == {"stars": 1}
    assert data["effects"] == []
    assert points(run, "BOB", "review-wallet") == 0


def test_event_on_a_session_does_not_redeem_its_coupon(basic: Run) -> None:
    run = basic
    code = new_code(run, BASIC)
    ok(run("session", "update", "S1", "--profile", "P1", "--coupon", code, *CART_30))
    data = ok(run("event", "track", "looked", "--profile", "P1", "--session", "S1", "--json")).json
    assert "acceptCoupon" not in types(data)
    assert "rejectCoupon" not in types(data)
    assert counter(run, code) == 0
    check_db(run)


# --- campaign new --------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["referral", "coupon", "loyalty"])
@pytest.mark.stateless
def test_new_writes_a_valid_commented_campaign(run: Run, tmp_path: Path, template: str) -> None:
    target = tmp_path / "authored"
    result = ok(
        run("campaign", "new", "promo", "--template", template, "--dir", str(target), "--json")
    )
    path = target / "promo.toml"
    assert result.json["id"] == "promo"
    assert result.json["template"] == template
    assert Path(result.json["path"]) == path
    assert path.is_file()
    text = path.read_text()
    assert any(line.startswith("#") for line in text.splitlines())
    validated = ok(run("campaign", "validate", str(target), "--json")).json
    assert validated["valid"] is True
    assert validated["campaigns"] == ["promo"]
    assert [p.name for p in target.iterdir()] == ["promo.toml"]  # no temporary file left


@pytest.mark.parametrize("template", ["referral", "coupon", "loyalty"])
@pytest.mark.stateless
def test_new_refuses_to_overwrite(run: Run, tmp_path: Path, template: str) -> None:
    target = tmp_path / "authored"
    ok(run("campaign", "new", "promo", "--template", template, "--dir", str(target)))
    path = target / "promo.toml"
    before = path.read_bytes()
    other = "loyalty" if template != "loyalty" else "coupon"
    again = run("campaign", "new", "promo", "--template", other, "--dir", str(target))
    assert again.exit_code == 1, again
    assert "already exists" in again.stderr
    assert path.read_bytes() == before
    assert [p.name for p in target.iterdir()] == ["promo.toml"]


@pytest.mark.stateless
def test_new_with_an_invalid_id_is_exit_2(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "authored"
    result = run("campaign", "new", "Bad_Id", "--template", "coupon", "--dir", str(target))
    assert result.exit_code == 2, result
    assert "Bad_Id" in result.stderr
    assert not (target / "Bad_Id.toml").exists()


@pytest.mark.stateless
def test_new_with_an_unknown_template_is_exit_2(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "authored"
    result = run("campaign", "new", "promo", "--template", "giveaway", "--dir", str(target))
    assert result.exit_code == 2, result
    assert "giveaway" in result.stderr
    assert not (target / "promo.toml").exists()


def test_new_writes_into_the_campaign_directory_by_default(run: Run, camps: Path) -> None:
    result = ok(run("campaign", "new", "promo", "--template", "coupon", "--json"))
    assert Path(result.json["path"]) == camps / "promo.toml"
    validated = ok(run("campaign", "validate", "--json")).json
    assert validated["campaigns"] == [MEDIUM, "promo", SPRING]
    states = {c["refcamp"]["id"]: c["state"] for c in ok(run("campaign", "list", "--json")).json}
    assert states["promo"] == "disabled"


def test_new_without_a_campaign_directory_writes_to_dot_campaigns(run: Run, isolated: Path) -> None:
    result = ok(run("campaign", "new", "promo", "--template", "loyalty"))
    written = isolated / "work" / "campaigns" / "promo.toml"
    assert written.is_file(), result
    listed = ok(run("campaign", "list", "--json")).json
    # The shipped samples are copied with it, so ./campaigns taking over hides none of them.
    assert [c["refcamp"]["id"] for c in listed] == [MEDIUM, "promo", SPRING]


@pytest.mark.parametrize("template", ["referral", "loyalty"])
@pytest.mark.stateless
def test_new_never_leaves_the_directory_invalid_program_clash(
    run: Run, camps: Path, template: str
) -> None:
    # medium-referral.toml already defines the program "sample-wallet".
    result = run("campaign", "new", "sample", "--template", template)
    assert result.exit_code == 2, result
    assert "duplicate id 'sample-wallet'" in result.stderr
    assert "sample.toml" in result.stderr
    assert not (camps / "sample.toml").exists()
    assert not [p for p in camps.iterdir() if p.name.startswith(".")]  # no temporary left
    validated = run("campaign", "validate", "--json")
    assert validated.exit_code == 0, (result, validated)
    assert validated.json["valid"] is True


@pytest.mark.stateless
def test_new_never_leaves_the_directory_invalid_id_clash(run: Run, camps: Path) -> None:
    (camps / "old.toml").write_text(coupon_campaign("promo", "OLD"))
    ok(run("campaign", "validate"))
    result = run("campaign", "new", "promo", "--template", "coupon")
    assert result.exit_code == 2, result
    assert "duplicate id 'promo'" in result.stderr
    assert not (camps / "promo.toml").exists()
    validated = run("campaign", "validate", "--json")
    assert validated.exit_code == 0, (result, validated)
    assert validated.json["valid"] is True


def authored(run: Run, tmp_path: Path, template: str) -> Callable[..., Any]:
    """A directory with one new campaign from a template, activated; returns a runner for it."""
    target = tmp_path / "authored"
    ok(run("campaign", "new", "promo", "--template", template, "--dir", str(target)))

    def cli(*args: str, **kwargs: Any) -> Any:
        return run("--campaigns", str(target), *args, **kwargs)

    ok(cli("campaign", "activate", "promo"))
    return cli


def test_loyalty_template_gives_points_per_unit_of_the_total(run: Run, tmp_path: Path) -> None:
    cli = authored(run, tmp_path, "loyalty")
    data = ok(
        cli("session", "close", "S1", "--profile", "P1", "--item", "sku=a,price=123.45", "--json")
    ).json
    assert types(data) == ["addLoyaltyPoints"]
    assert data["effects"][0]["props"]["value"] == 123
    assert data["effects"][0]["props"]["programId"] == talon_id(cli, "program", "promo-wallet")
    loyalty = ok(cli("loyalty", "balance", "P1", "--json")).json
    assert program_of(loyalty, "promo-wallet")["ledger"]["pendingBalance"] == 123  # for 7 days
    later = ok(cli("--now", "2026-05-09T00:00:00Z", "loyalty", "balance", "P1", "--json")).json
    assert program_of(later, "promo-wallet")["ledger"]["currentBalance"] == 123
    check_db(cli)


def test_coupon_template_creates_a_coupon_on_registration(run: Run, tmp_path: Path) -> None:
    cli = authored(run, tmp_path, "coupon")
    data = ok(cli("profile", "update", "NEWCUSTOMER", "--json")).json
    assert types(data) == ["couponCreated"]
    created = data["createdCoupons"]
    assert len(created) == 1
    assert re.match(rf"^SAVE-[{CHARS}]{{6}}$", created[0]["value"]), created
    assert created[0]["recipientIntegrationId"] == "NEWCUSTOMER"
    assert created[0]["campaignId"] == talon_id(cli, "campaign", "promo")
    code = created[0]["value"]
    used = ok(
        cli(
            "session",
            "close",
            "--profile",
            "NEWCUSTOMER",
            "--coupon",
            code,
            "--item",
            "sku=a,price=80",
            "--json",
        )
    ).json
    assert types(used) == ["acceptCoupon", "setDiscount"]
    assert used["effects"][1]["props"]["value"] == 8
    check_db(cli)


def test_referral_template_rewards_advocate_and_friend(run: Run, tmp_path: Path) -> None:
    cli = authored(run, tmp_path, "referral")
    code = ok(cli("profile", "update", "ADVOCATE", "-q")).stdout.strip()
    assert code
    data = ok(cli("session", "close", "--profile", "FRIEND", "--referral", code, "--json")).json
    assert types(data) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    advocate = ok(cli("loyalty", "balance", "ADVOCATE", "--json")).json
    assert program_of(advocate, "promo-wallet")["ledger"]["currentBalance"] == 100
    check_db(cli)


# --- campaign validate ---------------------------------------------------------------------------

BROKEN = """
[campaign]
id = "broken"
features = ["coupons"]

[[rules]]
name = "Welcome"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "creat_coupon" }]

[[rules]]
name = "Big carts"
when = [{ attribut = "session.total", op = ">=", value = 50 }]
then = [{ effect = "set_discount", name = "10% off", percent = 10 }]
"""

ALSO_BROKEN = """
[campaign]
id = "also-broken"
features = ["coupons"]

[[rules]]
name = "Points"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "no-such-wallet", points = 5 }]
"""


@pytest.mark.stateless
def test_validate_reports_every_problem_with_place_and_hint(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "broken"
    target.mkdir()
    (target / "broken.toml").write_text(BROKEN)
    (target / "also-broken.toml").write_text(ALSO_BROKEN)

    result = run("campaign", "validate", str(target), "--json")
    assert result.exit_code == 2, result
    problems = result.json["problems"]
    assert result.json["valid"] is False
    assert len(problems) == 3, problems
    for problem in problems:  # the sentence and its parts say the same
        assert problem["text"] == f"{problem['file']}: {problem['place']}: {problem['message']}"
    effect = next(p for p in problems if "creat_coupon" in p["text"])
    assert effect["file"].endswith("/broken.toml")
    assert effect["rule"] == 1
    assert effect["place"].startswith("rule 1 'Welcome'")
    assert "effect" in effect["place"]
    assert "did you mean create_coupon?" in effect["message"]
    condition = next(p for p in problems if "'attribut'" in p["text"])
    assert condition["file"].endswith("/broken.toml")
    assert condition["rule"] == 2
    assert condition["place"].startswith("rule 2 'Big carts'")
    assert "'attribut'" in condition["message"]
    assert "did you mean attribute?" in condition["message"]
    program = next(p for p in problems if "no-such-wallet" in p["text"])
    assert program["file"].endswith("/also-broken.toml")
    assert program["rule"] == 1
    assert program["place"].startswith("rule 1 'Points'")
    assert "program" in program["place"]

    text = run("campaign", "validate", str(target))
    assert text.exit_code == 2, text
    assert "3 problems" in text.stderr
    assert "did you mean create_coupon?" in text.stderr
    assert "did you mean attribute?" in text.stderr


def test_an_invalid_campaign_directory_stops_requests(run: Run, camps: Path) -> None:
    (camps / "broken.toml").write_text(BROKEN)
    result = run("profile", "update", "ANN", "--json")
    assert result.exit_code == 2, result
    assert "creat_coupon" in result.stderr
    (camps / "broken.toml").unlink()
    assert run("profile", "show", "ANN").exit_code == 1  # nothing was saved
