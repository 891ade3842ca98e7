"""The rule language through the CLI: every condition kind and every effect kind, each where it
holds (applies) and where it does not, plus the order of campaigns, rules and effects, and
`--explain`. What the engine alone decides (every operator on every type, item filters,
combinator truth tables) is tested without the CLI in tests/engine/; here stay the stories that
need a command: its output, exit codes, messages, what it stores, and how options reach the rules.

Campaigns are small TOML files written into a temporary directory and passed with
`--campaigns DIR`; every request names its time with `--now`, so nothing depends on the real clock.
Outcomes are read from `--json` (effects, ruleFailureReasons, customerProfile, customerSession) and
from the show commands, and every test that changes state ends with `db check --json` == ok.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import HIT, Refcamp, attribute, campaign, ok, rule

Run = Callable[..., Any]  # conftest's `run` fixture


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def write(run: Run, tmp_path: Path) -> Callable[..., Refcamp]:
    """Write campaign files (one per text) and return refcamp pointed at their directory."""

    def write_files(*texts: str) -> Refcamp:
        directory = tmp_path / "campaigns"
        directory.mkdir(exist_ok=True)
        for index, text in enumerate(texts, 1):
            (directory / f"campaign{index}.toml").write_text(text, encoding="utf-8")
        return Refcamp(run, directory)

    return write_files


def types(response: Any) -> list[str]:
    return [e["effectType"] for e in response["effects"]]


def hit(response: Any) -> bool:
    """Whether the test rule fired: its `hit` notification is among the effects."""
    return any(
        e["effectType"] == "showNotification" and e["props"]["title"] == "hit"
        for e in response["effects"]
    )


def effects_of(response: Any, effect_type: str) -> list[dict[str, Any]]:
    return [e for e in response["effects"] if e["effectType"] == effect_type]


def one(response: Any, effect_type: str) -> dict[str, Any]:
    """The props of the one effect of this type."""
    found = effects_of(response, effect_type)
    assert len(found) == 1, response["effects"]
    return found[0]["props"]


def audiences(response: Any) -> list[str]:
    return [a["name"] for a in response["customerProfile"]["audienceMemberships"]]


def cart_body(profile: str, *items: dict[str, Any], **session: Any) -> dict[str, Any]:
    return {"customerSession": {"profileId": profile, "cartItems": list(items), **session}}


def any_item(*conditions: str) -> str:
    return "{ any_item = [" + ", ".join(conditions) + "] }"


def all_of(*conditions: str) -> str:
    return "{ all = [" + ", ".join(conditions) + "] }"


def any_of(*conditions: str) -> str:
    return "{ any = [" + ", ".join(conditions) + "] }"


def not_(condition: str) -> str:
    return "{ not = " + condition + " }"


# --- { event = "NAME" } --------------------------------------------------------------------------


def test_builtin_event_condition_holds_only_for_that_event(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule('{ event = "talon_session_closed" }')))
    opened = rc.update("S1", "--profile", "P")
    assert not hit(opened)
    assert opened["ruleFailureReasons"][0]["details"].endswith(
        "saw talon_session_created, needs talon_session_closed"
    )
    updated = rc.update("S1", "--item", "sku=a,price=5")
    assert not hit(updated)
    closed = rc.close("S1")
    assert hit(closed)
    assert closed["ruleFailureReasons"] == []
    assert not hit(rc.track("session_closed", "--profile", "P"))  # a custom event
    rc.check()


def test_session_created_and_closed_in_one_request_fires_both_events(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule('{ event = "talon_session_created" }', name="created"),
            rule('{ event = "talon_session_closed" }', name="closed"),
        )
    )
    response = rc.close("S1", "--profile", "P")
    assert [e["ruleName"] for e in response["effects"]] == ["created", "closed"]
    rc.check()


def test_custom_event_condition(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule('{ event = "review_posted" }')))
    tracked = rc.track("review_posted", "--profile", "P")
    assert hit(tracked)
    assert tracked["event"]["type"] == "review_posted"
    assert tracked["event"]["profileId"] == "P"
    other = rc.track("review_deleted", "--profile", "P")
    assert not hit(other)
    assert "saw review_deleted, needs review_posted" in other["ruleFailureReasons"][0]["details"]
    assert not hit(rc.close("S1", "--profile", "P"))
    assert not hit(rc.json("profile", "update", "Q"))
    rc.check()


def test_custom_event_with_a_session_sees_its_cart_and_attributes(
    write: Callable[..., Refcamp],
) -> None:
    when = ", ".join(
        [
            '{ event = "review_posted" }',
            attribute("event.attributes.stars", ">=", "4"),
            attribute("session.total", ">", "10"),
        ]
    )
    rc = write(campaign(rule(when)))
    rc.update("S1", "--profile", "P", "--item", "sku=a,price=20")
    rc.update("S2", "--profile", "P", "--item", "sku=a,price=5")
    tracked = rc.track("review_posted", "--profile", "P", "--session", "S1", "--attr", "stars=5")
    assert hit(tracked)
    assert tracked["event"]["sessionId"] == "S1"
    assert tracked["event"]["attributes"] == {"stars": 5}
    assert not hit(
        rc.track("review_posted", "--profile", "P", "--session", "S2", "--attr", "stars=5")
    )
    assert not hit(
        rc.track("review_posted", "--profile", "P", "--session", "S1", "--attr", "stars=3")
    )
    assert not hit(rc.track("review_posted", "--profile", "P", "--attr", "stars=5"))  # no cart
    rc.check()


@pytest.mark.stateless
def test_unknown_builtin_event_is_a_load_error(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule('{ event = "talon_session_clossed" }')))
    result = rc("campaign", "validate")
    assert result.exit_code == 2, result
    assert "campaign1.toml: rule 1 'r': condition 1: event:" in result.stderr
    assert "did you mean talon_session_closed?" in result.stderr


# --- { attribute = ... }: the session's numbers --------------------------------------------------


def test_session_total_counts_additional_costs_and_cart_item_total_does_not(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(attribute("session.total", "==", "35"), name="total"),
            rule(attribute("session.cartItemTotal", "==", "30"), name="items"),
            rule(attribute("session.cartItemTotal", "==", "35"), name="wrong"),
        )
    )
    body = cart_body(
        "P",
        {"sku": "a", "quantity": 3, "price": 10},
        additionalCosts={"shipping": {"price": 5}},
    )
    response = rc.payload("session", "update", "S1", body=body)
    assert [e["ruleName"] for e in response["effects"]] == ["total", "items"]
    assert response["customerSession"]["total"] == 35
    assert response["customerSession"]["cartItemTotal"] == 30
    assert [r["ruleName"] for r in response["ruleFailureReasons"]] == ["wrong"]
    rc.check()


# --- { attribute = ... }: every operator, on a session attribute --------------------------------


# Every operator on every type is decided by the engine: tests/engine/test_condition_attribute.py.
# Here, one story: values typed on the command line (numbers, booleans, text, K:=JSON) reach the
# comparisons as those types, and the failing rule is reported with what it saw.


def test_typed_attr_values_reach_the_operators(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(attribute("session.attributes.k", "==", "3"), name="three"),
            rule(attribute("session.attributes.k", "==", "true"), name="yes"),
            rule(attribute("session.attributes.k", "contains", '"a"'), name="has-a"),
            rule(attribute("session.attributes.k", "<", "10"), name="small"),
        )
    )
    for session, attr, fired in (
        ("S1", "k=3.0", ["three", "small"]),
        ("S2", "k=true", ["yes"]),
        ("S3", 'k:=["a", "b"]', ["has-a"]),
        ("S4", "k=banana", ["has-a"]),
        ("S5", "k=10", []),
    ):
        response = rc.update(session, "--profile", "P", "--attr", attr)
        assert [e["ruleName"] for e in response["effects"]] == fired, (attr, response)
        stored = rc.json("session", "show", session)["customerSession"]["attributes"]
        assert list(stored) == ["k"]
    missing = rc.update("S6", "--profile", "P", "--attr", "other=1")
    assert not missing["effects"]
    reason = missing["ruleFailureReasons"][0]
    assert (reason["ruleName"], reason["conditionIndex"]) == ("three", 0)
    assert "saw session.attributes.k = missing" in reason["details"]
    rc.check()


# --- { attribute = ... }: profile, event and referral attributes --------------------------------


def test_profile_attribute_condition(write: Callable[..., Refcamp]) -> None:
    when = attribute("profile.attributes.tier", "in", '["gold", "platinum"]')
    rc = write(campaign(rule(f'{when}, {{ event = "talon_session_closed" }}')))
    gold = rc.json("profile", "update", "GOLD", "--attr", "tier=gold")
    assert gold["customerProfile"]["attributes"] == {"tier": "gold"}
    rc.json("profile", "update", "SILVER", "--attr", "tier=silver")
    assert hit(rc.close("S1", "--profile", "GOLD"))
    silver = rc.close("S2", "--profile", "SILVER")
    assert not hit(silver)
    assert 'saw profile.attributes.tier = "silver"' in silver["ruleFailureReasons"][0]["details"]
    assert not hit(rc.close("S3", "--profile", "NEWBIE"))
    rc.check()


def test_profile_attribute_from_a_payload(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule(attribute("profile.attributes.age", ">=", "18"))))
    adult = rc.payload("profile", "update", "ADULT", body={"attributes": {"age": 30}})
    assert hit(adult)
    minor = rc.payload("profile", "update", "MINOR", body={"attributes": {"age": 12}})
    assert not hit(minor)
    assert hit(rc.update("S1", "--profile", "ADULT"))
    rc.check()


def test_event_attribute_condition(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule(attribute("event.attributes.amount", ">", "100"))))
    assert hit(rc.track("purchase", "--profile", "P", "--attr", "amount=120.5"))
    low = rc.track("purchase", "--profile", "P", "--attr", "amount=80")
    assert not hit(low)
    assert "saw event.attributes.amount = 80" in low["ruleFailureReasons"][0]["details"]
    body = {"type": "purchase", "profileId": "P", "attributes": {"amount": 150}}
    assert hit(rc.payload("event", "track", body=body))
    # A session request has no event attributes.
    assert not hit(rc.update("S1", "--profile", "P", "--attr", "amount=500"))
    rc.check()


def test_referral_attribute_of_a_created_code_is_missing(write: Callable[..., Refcamp]) -> None:
    """`referral create` has no attributes option, so referral.attributes.X is always missing:
    comparisons are false, never a crash, and `exists` with value = false holds."""
    rc = write(
        campaign(
            rule(attribute("referral.attributes.source", "==", '"blog"'), name="equals"),
            rule(attribute("referral.attributes.source", "!=", '"blog"'), name="differs"),
            rule(attribute("referral.attributes.source", "exists"), name="present"),
            rule(attribute("referral.attributes.source", "exists", "false"), name="absent"),
            rule(attribute("referral.attributes.level", ">", "1"), name="bigger"),
        )
    )
    code = ok(
        rc("referral", "create", "--campaign", "rl", "--advocate", "ADV", "--code", "FRIEND-1")
    ).stdout
    assert "FRIEND-1" in code
    shown = rc.json("referral", "show", "FRIEND-1")
    assert shown["attributes"] == {}
    response = rc.update("S1", "--profile", "FRIEND", "--referral", "FRIEND-1")
    assert [e["ruleName"] for e in effects_of(response, "showNotification")] == ["absent"]
    failed = {r["ruleName"]: r["details"] for r in response["ruleFailureReasons"]}
    assert set(failed) == {"equals", "differs", "present", "bigger"}
    assert all("= missing" in details for details in failed.values())
    # Without a referral code at all: the same.
    plain = rc.update("S2", "--profile", "FRIEND")
    assert [e["ruleName"] for e in plain["effects"]] == ["absent"]
    rc.check()


# --- load-time checks ----------------------------------------------------------------------------


def invalid(rc: Refcamp) -> str:
    """`campaign validate` refuses the directory (exit 2); returns stderr."""
    result = rc("campaign", "validate")
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("refcamp: error: invalid campaigns (1 problem):")
    return result.stderr


@pytest.mark.parametrize(
    ("condition", "key", "message"),
    [
        (attribute("session.total", ">", '"50"'), "value", "op '>' compares numbers, got a string"),
        (
            attribute("profile.attributes.tier", ">=", "true"),
            "value",
            "op '>=' compares numbers, got a boolean",
        ),
        (
            attribute("profile.attributes.tier", "in", '"gold"'),
            "value",
            "op 'in' needs an array, got a string",
        ),
        (
            attribute("profile.attributes.tier", "not_in", "5"),
            "value",
            "op 'not_in' needs an array, got an integer",
        ),
        (
            attribute("session.attributes.channel", "starts_with", "5"),
            "value",
            "op 'starts_with' needs a string, got an integer",
        ),
        (
            attribute("session.total", "==", '"abc"'),
            "value",
            "session.total is a number; got a string 'abc'",
        ),
        (
            attribute("session.itemCount", "in", '[1, "2"]'),
            "value",
            "session.itemCount is a number",
        ),
        (
            attribute("session.total", "contains", "5"),
            "op",
            "session.total is a number; op 'contains' does not apply",
        ),
        (
            attribute("session.attributes.k", "==", '["a"]'),
            "value",
            "op '==' needs a single value, not an array",
        ),
        (attribute("session.attributes.k", "=="), "", "missing key 'value'"),
        (
            attribute("session.attributes.k", "exists", '"yes"'),
            "value",
            "with op 'exists', value is true (default) or false",
        ),
        (
            attribute("session.attributes.k", "equals", "1"),
            "op",
            "unknown value 'equals'",
        ),
        (
            attribute("session.totl", ">", "5"),
            "attribute",
            "unknown path 'session.totl' (did you mean session.total?)",
        ),
        (
            attribute("profile.attribute.tier", "==", '"gold"'),
            "attribute",
            "unknown path 'profile.attribute.tier' (did you mean profile.attributes.X?)",
        ),
        (
            attribute("session.attributes.", "exists"),
            "attribute",
            "unknown path 'session.attributes.'",
        ),
        (attribute("item.sku", "==", '"a"'), "attribute", "unknown path 'item.sku'"),
        (
            '{ attribute = "session.total", op = ">", value = 5, vaule = 6 }',
            "",
            "unknown key 'vaule' (did you mean value?)",
        ),
        ('{ atribute = "session.total" }', "", "unknown condition 'atribute'"),
        (
            '{ event = "x", audience = "vip" }',
            "",
            "one condition per table, got event, audience",
        ),
    ],
)
@pytest.mark.stateless
def test_type_and_path_mistakes_are_load_errors_naming_file_rule_and_key(
    write: Callable[..., Refcamp], condition: str, key: str, message: str
) -> None:
    rc = write(campaign(rule(f'{{ event = "talon_session_closed" }}, {condition}', name="Big")))
    stderr = invalid(rc)
    place = "campaign1.toml: rule 1 'Big': condition 2: " + (f"{key}: " if key else "")
    assert place in stderr, stderr
    assert message in stderr, stderr
    # No request runs on a directory that does not validate, and the state file is not created.
    refused = rc("session", "close", "S1", "--profile", "P", "--json")
    assert refused.exit_code == 2
    assert refused.stdout == ""
    as_json = rc("campaign", "validate", "--json")
    assert as_json.exit_code == 2
    assert as_json.json["valid"] is False
    assert len(as_json.json["problems"]) == 1


@pytest.mark.stateless
def test_every_mistake_of_a_file_is_listed_at_once(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(attribute("session.total", ">", '"50"'), name="one"),
            rule(
                f"{attribute('session.totl', '>', '5')}, "
                f"{attribute('profile.attributes.t', 'in', '1')}",
                name="two",
            ),
        )
    )
    problems = rc("campaign", "validate", "--json").json["problems"]
    assert len(problems) == 3
    assert problems[0]["text"].endswith(
        "rule 1 'one': condition 1: value: op '>' compares numbers, got a string '50'"
    )
    # Each problem also comes apart: its file, rule, place in the file and message.
    first = problems[0]
    assert first["text"] == f"{first['file']}: {first['place']}: {first['message']}"
    assert problems[0]["file"].endswith(".toml")
    assert (problems[0]["rule"], problems[0]["place"]) == (1, "rule 1 'one': condition 1: value")
    assert problems[0]["message"] == "op '>' compares numbers, got a string '50'"
    assert [p["rule"] for p in problems] == [1, 2, 2]
    assert "rule 2 'two': condition 1: attribute: unknown path" in problems[1]["text"]
    assert "rule 2 'two': condition 2: value: op 'in' needs an array" in problems[2]["text"]


# --- { any_item = [...] } ------------------------------------------------------------------------


# Item fields, inner conditions and nesting are decided by the engine:
# tests/engine/test_condition_any_item.py. Here, one story: --item fields reach the items.


def test_any_item_on_item_fields_given_with_item(write: Callable[..., Refcamp]) -> None:
    inner = ", ".join(
        [
            attribute("item.name", "starts_with", '"Pro"'),
            attribute("item.category", "in", '["Accessories", "Bags"]'),
            attribute("item.price", ">=", "20"),
            attribute("item.quantity", ">=", "3"),
            attribute("item.sku", "not_in", '["other", "x"]'),
        ]
    )
    rc = write(campaign(rule(f"{{ any_item = [{inner}] }}")))
    other = "sku=other,category=Other,price=0"
    good = "sku=y,name=ProductC,category=Bags,price=20,quantity=3"
    yes = rc.update("S1", "--profile", "P", "--item", other, "--item", good)
    assert hit(yes), yes
    for bad in (
        "sku=x,name=ProductC,category=Bags,price=20,quantity=3",
        "sku=y,name=Widget,category=Bags,price=20,quantity=3",
        "sku=y,name=ProductC,category=Shoes,price=20,quantity=3",
        "sku=y,name=ProductC,category=Bags,price=19.99,quantity=3",
        "sku=y,name=ProductC,category=Bags,price=20,quantity=2",
    ):
        no = rc.update("S2", "--profile", "P", "--item", other, "--item", bad)
        assert not hit(no), (bad, no)
        assert "saw 0 of 2 items match" in no["ruleFailureReasons"][0]["details"]
    rc.check()


def test_any_item_on_item_attributes_from_a_payload(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule(any_item(attribute("item.attributes.color", "==", '"red"')))))
    red = cart_body(
        "P",
        {"sku": "a", "quantity": 1, "price": 5, "attributes": {"color": "blue"}},
        {"sku": "b", "quantity": 1, "price": 5, "attributes": {"color": "red"}},
    )
    response = rc.payload("session", "update", "S1", body=red)
    assert hit(response)
    assert response["customerSession"]["cartItems"][1]["attributes"] == {"color": "red"}
    blue = cart_body("P", {"sku": "a", "quantity": 1, "price": 5, "attributes": {"color": "blue"}})
    assert not hit(rc.payload("session", "update", "S2", body=blue))
    # Items given with --item have no attributes: the attribute is missing, never a crash.
    assert not hit(rc.update("S3", "--profile", "P", "--item", "sku=a,price=0"))
    rc.check()


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ('{ event = "talon_session_closed" }', "event cannot be used inside an item filter"),
        ('{ audience = "vip" }', "audience cannot be used inside an item filter"),
        (attribute("session.total", ">", "1"), "unknown path 'session.total'"),
        (any_item(attribute("item.sku", "==", '"a"')), "any_item cannot be used"),
        ("", "any_item: needs at least one item condition"),
    ],
)
@pytest.mark.stateless
def test_request_conditions_inside_any_item_are_load_errors(
    write: Callable[..., Refcamp], inner: str, message: str
) -> None:
    rc = write(campaign(rule(f"{{ any_item = [{inner}] }}")))
    stderr = invalid(rc)
    assert "campaign1.toml: rule 1 'r': condition 1: any_item" in stderr
    assert message in stderr


# --- { audience = "NAME" } -----------------------------------------------------------------------


def test_audience_condition_with_audience_add_and_remove(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule('{ audience = "vip" }, { event = "talon_session_closed" }')))
    joined = rc.json("profile", "update", "P", "--audience-add", "vip", "--audience-add", "news")
    assert audiences(joined) == ["news", "vip"]
    assert hit(rc.close("S1", "--profile", "P"))
    outsider = rc.close("S2", "--profile", "Q")
    assert not hit(outsider)
    assert "saw audiences: no audience, needs vip" in outsider["ruleFailureReasons"][0]["details"]
    left = rc.json("profile", "update", "P", "--audience-remove", "vip")
    assert audiences(left) == ["news"]
    after = rc.close("S3", "--profile", "P")
    assert not hit(after)
    assert "saw audiences: news" in after["ruleFailureReasons"][0]["details"]
    news = rc.talon_id("audience", "news")
    assert after["customerProfile"]["audienceMemberships"] == [{"id": news, "name": "news"}]
    anonymous = rc.close("S4", "--anonymous")
    assert not hit(anonymous)
    assert "saw audiences: no customer" in anonymous["ruleFailureReasons"][0]["details"]
    rc.check()


def test_audience_changes_in_a_profile_payload(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule('{ audience = "vip" }')))
    joined = rc.payload(
        "profile", "update", "P", body={"audiencesChanges": {"adds": ["vip", "beta"]}}
    )
    assert audiences(joined) == ["beta", "vip"]
    assert hit(joined)  # the audience is joined before the rules run
    assert hit(rc.update("S1", "--profile", "P"))
    left = rc.payload(
        "profile", "update", "P", body={"audiencesChanges": {"adds": [], "deletes": ["vip"]}}
    )
    assert audiences(left) == ["beta"]
    assert not hit(left)
    assert not hit(rc.update("S2", "--profile", "P"))
    rc.check()


# --- { all }, { any }, { not } -------------------------------------------------------------------


BIG = attribute("session.total", ">=", "50")
GOLD = attribute("session.attributes.tier", "==", '"gold"')


def test_nested_combinators_of_the_reference(write: Callable[..., Refcamp]) -> None:
    blocked = attribute("profile.attributes.blocked", "==", "true")
    when = (
        '{ event = "talon_session_closed" }, { any = [{ audience = "vip" }, '
        f"{{ all = [{attribute('session.total', '>', '100')}, {{ not = {blocked} }}] }}] }}"
    )
    rc = write(campaign(rule(when)))
    rc.json("profile", "update", "VIP", "--audience-add", "vip", "--attr", "blocked=true")
    rc.json("profile", "update", "BLOCKED", "--attr", "blocked=true")
    assert hit(rc.close("S1", "--profile", "VIP", "--item", "sku=a,price=5"))
    assert hit(rc.close("S2", "--profile", "NEW", "--item", "sku=a,price=101"))
    assert not hit(rc.close("S3", "--profile", "NEW2", "--item", "sku=a,price=100"))
    blocked_response = rc.close("S4", "--profile", "BLOCKED", "--item", "sku=a,price=500")
    assert not hit(blocked_response)
    reason = blocked_response["ruleFailureReasons"][0]
    assert reason["conditionIndex"] == 1
    assert not hit(rc.update("S5", "--profile", "VIP"))  # not closed
    rc.check()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("{ all = [] }", "all: needs at least one condition"),
        ("{ any = [] }", "any: needs at least one condition"),
        ('{ all = { event = "x" } }', "all: expected an array of condition tables"),
        ('{ not = [{ event = "x" }] }', "not: a condition must be a table"),
        ("{ not = { nope = 1 } }", "unknown condition 'nope'"),
    ],
)
@pytest.mark.stateless
def test_malformed_combinators_are_load_errors(
    write: Callable[..., Refcamp], condition: str, message: str
) -> None:
    rc = write(campaign(rule(condition)))
    stderr = invalid(rc)
    assert "campaign1.toml: rule 1 'r': condition 1" in stderr
    assert message in stderr


# --- create_referral_code ------------------------------------------------------------------------


REGISTERED = '{ event = "talon_profile_created" }'
CLOSED = '{ event = "talon_session_closed" }'


def test_create_referral_code_with_usage_limit_and_valid_for(
    write: Callable[..., Refcamp],
) -> None:
    then = '{ effect = "create_referral_code", usage_limit = 5, valid_for = "30D" }'
    extra = '[campaign.referrals]\npattern = "REF-####"\nusage_limit = 2\nvalid_for = "7D"\n'
    rc = write(
        campaign(
            rule(REGISTERED, then, name="override"),
            rule(CLOSED, '{ effect = "create_referral_code" }', name="defaults"),
            extra=extra,
        )
    )
    response = rc.json("profile", "update", "ADV")
    props = one(response, "referralCreated")
    code = props["value"]
    assert re.fullmatch(r"REF-[A-Z0-9]{4}", code)
    created = response["createdReferrals"]
    assert [r["code"] for r in created] == [code]
    assert created[0]["advocateProfileIntegrationId"] == "ADV"
    assert created[0]["campaignId"] == rc.talon_id("campaign", "rl")
    assert created[0]["usageLimit"] == 5
    assert created[0]["expiryDate"] == "2026-05-31T00:00:00.000Z"
    shown = rc.json("referral", "show", code)
    assert shown["usageLimit"] == 5
    assert shown["expiryDate"] == "2026-05-31T00:00:00.000Z"
    assert shown["advocateProfileIntegrationId"] == "ADV"
    # Without overrides the campaign's [campaign.referrals] apply.
    closed = rc.close("S1", "--profile", "ADV")
    second = closed["createdReferrals"][0]
    assert second["usageLimit"] == 2
    assert second["expiryDate"] == "2026-05-08T00:00:00.000Z"
    listed = rc.json("referral", "list", "--advocate", "ADV")
    assert sorted(r["code"] for r in listed) == sorted([code, second["code"]])
    rc.check()


def test_create_referral_code_does_not_apply_without_a_customer_or_the_event(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(REGISTERED, '{ effect = "create_referral_code" }', name="registered"),
            rule(CLOSED, '{ effect = "create_referral_code", valid_for = "unlimited" }', name="c"),
        )
    )
    ok(rc("profile", "update", "ADV", "--no-rules"))
    updated = rc.json("profile", "update", "ADV")  # talon_profile_updated
    assert updated["effects"] == []
    assert updated["createdReferrals"] == []
    anonymous = rc.close("S1", "--anonymous")  # the rule fires, but there is no advocate
    assert anonymous["effects"] == []
    assert anonymous["createdReferrals"] == []
    assert rc.json("referral", "list") == []
    unlimited = rc.close("S2", "--profile", "ADV")
    assert "expiryDate" not in unlimited["createdReferrals"][0]  # no expiry
    rc.check()


# --- add_loyalty_points --------------------------------------------------------------------------


def test_add_loyalty_points_fixed(write: Callable[..., Refcamp]) -> None:
    then = '{ effect = "add_loyalty_points", program = "wallet", points = 10, reason = "Thanks" }'
    rc = write(campaign(rule(CLOSED, then), wallet=True))
    opened = rc.update("S1", "--profile", "P")
    assert opened["effects"] == []
    closed = rc.close("S1")
    props = one(closed, "addLoyaltyPoints")
    assert props["value"] == 10
    assert props["name"] == "Thanks"
    assert props["programId"] == rc.talon_id("program", "wallet")
    assert props["recipientIntegrationId"] == "P"
    assert isinstance(props["transactionUUID"], str) and props["transactionUUID"] != ""  # booked
    assert "startDate" not in props
    assert "expiryDate" not in props
    assert rc.current("P") == 10
    anonymous = rc.close("S2", "--anonymous")  # no customer to give points to
    assert anonymous["effects"] == []
    rc.check()


def test_add_loyalty_points_on_an_open_session_is_tentative(write: Callable[..., Refcamp]) -> None:
    then = '{ effect = "add_loyalty_points", program = "wallet", points = 10 }'
    rc = write(campaign(rule(attribute("session.total", ">", "0"), then), wallet=True))
    opened = rc.update("S1", "--profile", "P", "--item", "sku=a,price=5")
    props = one(opened, "addLoyaltyPoints")
    assert props["transactionUUID"] == ""  # tentative: no transaction booked
    assert props["name"] == "10 points"
    assert rc.current("P") == 0
    assert one(rc.close("S1"), "addLoyaltyPoints")["transactionUUID"] != ""
    assert rc.current("P") == 10
    rc.check()


@pytest.mark.parametrize(
    ("points_per", "of", "item", "expected"),
    [
        ("1", "session.total", "sku=a,price=99.99", 99),
        ("0.1", "session.total", "sku=a,price=95", 9),
        ("0.1", "session.total", "sku=a,price=30", 3),
        ("0.29", "session.total", "sku=a,price=100", 29),
        ("2", "session.itemCount", "sku=a,quantity=3,price=0", 6),
        ("1.5", "session.cartItemTotal", "sku=a,price=10,quantity=2", 30),
        ("0.1", "session.total", "sku=a,price=5", None),
        ("1", "session.total", "sku=a,price=0.99", None),
    ],
)
def test_add_loyalty_points_per_unit_rounds_down(
    write: Callable[..., Refcamp], points_per: str, of: str, item: str, expected: int | None
) -> None:
    then = (
        '{ effect = "add_loyalty_points", program = "wallet", '
        f'points_per = {points_per}, of = "{of}" }}'
    )
    rc = write(campaign(rule(CLOSED, then), wallet=True))
    closed = rc.close("S1", "--profile", "P", "--item", item)
    if expected is None:
        assert closed["effects"] == []  # 0 points: no effect
        assert rc.current("P") == 0
    else:
        props = one(closed, "addLoyaltyPoints")
        assert props["value"] == expected
        assert props["name"] == f"{float(points_per):g} points per {of}"
        assert rc.current("P") == expected
    rc.check()


def test_add_loyalty_points_pending_and_validity_override_the_program(
    write: Callable[..., Refcamp],
) -> None:
    then = (
        '{ effect = "add_loyalty_points", program = "wallet", points = 10, '
        'pending = "7D", validity = "30D" }'
    )
    plain = '{ effect = "add_loyalty_points", program = "wallet", points = 5 }'
    rc = write(
        campaign(rule(CLOSED, then, name="held"), rule(CLOSED, plain, name="plain"), wallet=True)
    )
    closed = rc.close("S1", "--profile", "P")
    held, now = (e["props"] for e in closed["effects"])
    assert held["startDate"] == "2026-05-08T00:00:00.000Z"
    assert held["expiryDate"] == "2026-06-07T00:00:00.000Z"
    assert "startDate" not in now and "expiryDate" not in now
    assert rc.balance("P")["currentBalance"] == 5
    assert rc.balance("P")["pendingBalance"] == 10
    later = "2026-05-09T00:00:00Z"
    assert rc.balance("P", now=later)["currentBalance"] == 15
    much_later = "2026-06-08T00:00:00Z"
    assert rc.balance("P", now=much_later)["currentBalance"] == 5
    assert rc.balance("P", now=much_later)["expiredBalance"] == 10
    rc.check(now=much_later)


@pytest.mark.parametrize(
    ("then", "message"),
    [
        ('{ effect = "add_loyalty_points", program = "wallet" }', "give either points"),
        (
            '{ effect = "add_loyalty_points", program = "wallet", points = 1, points_per = 1, '
            'of = "session.total" }',
            "give either points",
        ),
        (
            '{ effect = "add_loyalty_points", program = "wallet", points_per = 1 }',
            "points_per needs of",
        ),
        (
            '{ effect = "add_loyalty_points", program = "wallet", points_per = 0, '
            'of = "session.total" }',
            "points_per: must be more than 0",
        ),
        (
            '{ effect = "add_loyalty_points", program = "wallet", points_per = 1, '
            'of = "session.attributes.x" }',
            "of: unknown value 'session.attributes.x'",
        ),
        (
            '{ effect = "add_loyalty_points", program = "walet", points = 1 }',
            "program: unknown loyalty program 'walet' (did you mean wallet?)",
        ),
    ],
)
@pytest.mark.stateless
def test_add_loyalty_points_mistakes_are_load_errors(
    write: Callable[..., Refcamp], then: str, message: str
) -> None:
    rc = write(campaign(rule(CLOSED, then), wallet=True))
    stderr = invalid(rc)
    assert "campaign1.toml: rule 1 'r': effect 1" in stderr
    assert message in stderr


# --- deduct_loyalty_points -----------------------------------------------------------------------


DEDUCT = (
    '{ effect = "deduct_loyalty_points", program = "wallet", points = 30, '
    'reason = "Free shipping" }'
)
REDEEM = attribute("session.attributes.redeem", "==", "true")


def test_deduct_loyalty_points_when_the_session_closes(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule(REDEEM, DEDUCT), wallet=True))
    ok(rc("loyalty", "add", "P", "--program", "wallet", "--points", "100", "--reason", "start"))
    opened = rc.update("S1", "--profile", "P", "--attr", "redeem=true")
    tentative = one(opened, "deductLoyaltyPoints")
    assert tentative["transactionUUID"] == ""  # tentative: no transaction booked
    assert rc.current("P") == 100  # nothing booked on an open session
    closed = rc.close("S1")
    props = one(closed, "deductLoyaltyPoints")
    assert props["value"] == 30
    assert props["name"] == "Free shipping"
    assert props["programId"] == rc.talon_id("program", "wallet")
    assert props["recipientIntegrationId"] == "P"
    assert isinstance(props["transactionUUID"], str) and props["transactionUUID"] != ""  # booked
    assert rc.current("P") == 70
    entry = rc.ledger("P")[-1]  # the newest
    assert (entry["type"], entry["amount"], entry["name"]) == ("subtraction", 30, "Free shipping")
    # The condition does not hold: nothing deducted.
    assert rc.close("S2", "--profile", "P", "--attr", "redeem=false")["effects"] == []
    assert rc.current("P") == 70
    rc.check()


def test_deduct_loyalty_points_with_too_few_points_leaves_the_whole_rule_out(
    write: Callable[..., Refcamp],
) -> None:
    """Never half a rule: without the points, neither the deduction nor the rule's other
    effects apply, and the output says why (EffectCouldNotBeApplied)."""
    rc = write(campaign(rule(REDEEM, f"{DEDUCT}, {HIT}"), wallet=True))
    ok(rc("loyalty", "add", "P", "--program", "wallet", "--points", "10", "--reason", "start"))
    result = ok(rc("session", "close", "S1", "--profile", "P", "--attr", "redeem=true", "--json"))
    assert types(result.json) == []
    [reason] = result.json["ruleFailureReasons"]
    assert reason["effectIndex"] == 0 and "P has 10 points in wallet, not 30" in reason["details"]
    assert rc.current("P") == 10
    nobody = ok(rc("session", "close", "S2", "--profile", "Q", "--attr", "redeem=true"))
    assert "No effects." in nobody.stdout
    assert "effect 1 (deductLoyaltyPoints) could not be applied" in nobody.stderr
    assert "Q has 0 points in wallet, not 30" in nobody.stderr
    rc.check()


def test_cancelling_a_closed_session_gives_deducted_points_back(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(campaign(rule(f"{REDEEM}, {CLOSED}", DEDUCT), wallet=True))
    ok(rc("loyalty", "add", "P", "--program", "wallet", "--points", "100", "--reason", "start"))
    booked = one(rc.close("S1", "--profile", "P", "--attr", "redeem=true"), "deductLoyaltyPoints")
    assert rc.current("P") == 70
    cancelled = rc.json("session", "cancel", "S1")
    props = one(cancelled, "rollbackDeductedLoyaltyPoints")
    assert props["value"] == 30
    assert props["recipientIntegrationId"] == "P"
    assert props["transactionUUID"] != booked["transactionUUID"]
    assert types(cancelled) == ["rollbackDeductedLoyaltyPoints"]
    assert rc.current("P") == 100
    again = rc.json("session", "cancel", "S1")
    assert again["effects"] == []
    assert rc.current("P") == 100
    rc.check()


# --- set_discount --------------------------------------------------------------------------------


def discounts(response: Any) -> list[tuple[str, float, str]]:
    return [
        (e["props"]["name"], e["props"]["value"], e["props"]["scope"])
        for e in effects_of(response, "setDiscount")
    ]


def test_set_discount_amount_and_percent_of_the_total(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(
                attribute("session.total", ">=", "50"),
                '{ effect = "set_discount", name = "5 off", amount = 5 }',
                name="a",
            ),
            rule(
                attribute("session.total", ">=", "50"),
                '{ effect = "set_discount", name = "10%", percent = 10 }',
                name="p",
            ),
        )
    )
    response = rc.update("S1", "--profile", "P", "--item", "sku=a,price=40,quantity=2")
    assert discounts(response) == [("5 off", 5, "sessionTotal"), ("10%", 8, "sessionTotal")]
    assert [e["ruleName"] for e in response["effects"]] == ["a", "p"]
    small = rc.update("S2", "--profile", "P", "--item", "sku=a,price=49.99")
    assert discounts(small) == []
    closed = rc.close("S3", "--profile", "P", "--item", "sku=a,price=99.99")
    assert discounts(closed) == [("5 off", 5, "sessionTotal"), ("10%", 10.0, "sessionTotal")]
    rc.check()


def test_set_discount_on_matching_items_only(write: Callable[..., Refcamp]) -> None:
    accessories = attribute("item.category", "==", '"Accessories"')
    percent = (
        '{ effect = "set_discount", name = "half off accessories", percent = 50, '
        f'scope = "items", items = [{accessories}] }}'
    )
    amount = (
        '{ effect = "set_discount", name = "15 off accessories", amount = 15, '
        f'scope = "items", items = [{accessories}] }}'
    )
    rc = write(campaign(rule(any_item(accessories), f"{percent}, {amount}")))
    response = rc.update(
        "S1",
        "--profile",
        "P",
        "--item",
        "sku=bag,category=Accessories,price=20,quantity=2",
        "--item",
        "sku=tv,category=Electronics,price=500",
    )
    assert discounts(response) == [
        ("half off accessories", 20, "cartItems"),
        ("15 off accessories", 15, "cartItems"),
    ]
    # An amount is never more than the matching items are worth.
    cheap = rc.update(
        "S2",
        "--profile",
        "P",
        "--item",
        "sku=belt,category=Accessories,price=4",
        "--item",
        "sku=tv,price=500",
    )
    assert discounts(cheap) == [
        ("half off accessories", 2, "cartItems"),
        ("15 off accessories", 4, "cartItems"),
    ]
    none = rc.update("S3", "--profile", "P", "--item", "sku=tv,category=Electronics,price=500")
    assert discounts(none) == []
    rc.check()


def test_set_discount_items_scope_with_no_matching_item_gives_no_effect(
    write: Callable[..., Refcamp],
) -> None:
    shoes = attribute("item.category", "==", '"Shoes"')
    then = (
        '{ effect = "set_discount", name = "shoes", percent = 20, scope = "items", '
        f"items = [{shoes}] }}"
    )
    rc = write(campaign(rule(attribute("session.total", ">", "0"), f"{then}, {HIT}")))
    response = rc.update("S1", "--profile", "P", "--item", "sku=a,category=Bags,price=50")
    assert types(response) == ["showNotification"]
    rc.check()


def test_set_discount_is_never_more_than_the_total(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(CLOSED, '{ effect = "set_discount", name = "huge", amount = 500 }', name="huge"),
            rule(CLOSED, '{ effect = "set_discount", name = "more", amount = 1 }', name="more"),
        )
    )
    response = rc.close("S1", "--profile", "P", "--item", "sku=a,price=40")
    assert discounts(response) == [("huge", 40, "sessionTotal")]  # nothing left for "more"
    empty = rc.close("S2", "--profile", "P")
    assert discounts(empty) == []
    rc.check()


def test_two_discounts_together_never_exceed_the_total(write: Callable[..., Refcamp]) -> None:
    sixty = '{ effect = "set_discount", name = "sixty", percent = 60 }'
    rc = write(
        campaign(rule(CLOSED, f"{sixty}, {sixty}"), cid="first"),
        campaign(
            rule(CLOSED, '{ effect = "set_discount", name = "ten", amount = 10 }'), cid="second"
        ),
    )
    response = rc.close("S1", "--profile", "P", "--item", "sku=a,price=100")
    assert discounts(response) == [("sixty", 60, "sessionTotal"), ("sixty", 40, "sessionTotal")]
    first = rc.talon_id("campaign", "first")
    assert [e["campaignId"] for e in response["effects"]] == [first, first]
    rc.check()


def test_set_discount_needs_a_cart(write: Callable[..., Refcamp]) -> None:
    then = f'{{ effect = "set_discount", name = "x", amount = 5 }}, {HIT}'
    rc = write(campaign(rule('{ event = "review_posted" }', then)))
    response = rc.track("review_posted", "--profile", "P")
    assert types(response) == ["showNotification"]
    rc.check()


def test_cancelling_a_closed_session_rolls_back_its_discounts(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(campaign(rule(CLOSED, '{ effect = "set_discount", name = "10%", percent = 10 }')))
    closed = rc.close("S1", "--profile", "P", "--item", "sku=a,price=70")
    assert discounts(closed) == [("10%", 7, "sessionTotal")]
    cancelled = rc.json("session", "cancel", "S1")
    assert types(cancelled) == ["rollbackDiscount"]
    assert cancelled["effects"][0]["props"] == {"name": "10%", "value": 7}
    assert cancelled["effects"][0]["campaignId"] == rc.talon_id("campaign", "rl")
    assert rc.json("session", "cancel", "S1")["effects"] == []
    # An open session that is cancelled booked no discount, so there is nothing to roll back.
    rc.update("S2", "--profile", "P", "--item", "sku=a,price=70")
    assert rc.json("session", "cancel", "S2")["effects"] == []
    rc.check()


def test_a_discount_blocked_by_a_limit_leaves_the_total_to_later_discounts(
    write: Callable[..., Refcamp],
) -> None:
    limit = '[[campaign.limits]]\naction = "setDiscount"\nlimit = 10\nper = "campaign"\n'
    rc = write(
        campaign(
            rule(CLOSED, '{ effect = "set_discount", name = "fifty", amount = 50 }'),
            cid="limited",
            extra=limit,
        ),
        campaign(
            rule(CLOSED, '{ effect = "set_discount", name = "all", percent = 100 }'),
            cid="later",
            priority=1,
        ),
    )
    first = rc.close("S1", "--profile", "P", "--item", "sku=a,price=100")
    # The limit had 10 left of the 50 asked: the discount is capped, the rest left to pay
    assert discounts(first) == [("fifty", 10, "sessionTotal"), ("all", 90, "sessionTotal")]
    response = rc.close("S2", "--profile", "P", "--item", "sku=a,price=100")
    assert "setDiscount blocked" in response["ruleFailureReasons"][0]["details"]
    assert discounts(response) == [("all", 100, "sessionTotal")]


def test_a_set_discount_limit_per_profile_applies(write: Callable[..., Refcamp]) -> None:
    limit = '[[campaign.limits]]\naction = "setDiscount"\nlimit = 60\nper = "profile"\n'
    rc = write(
        campaign(
            rule(CLOSED, '{ effect = "set_discount", name = "fifty", amount = 50 }'), extra=limit
        )
    )
    assert discounts(rc.close("S1", "--profile", "P", "--item", "sku=a,price=100")) == [
        ("fifty", 50, "sessionTotal")
    ]
    second = rc.close("S2", "--profile", "P", "--item", "sku=a,price=100")
    assert discounts(second) == [("fifty", 10, "sessionTotal")]  # capped: 10 of 60 was left
    third = rc.close("S3", "--profile", "P", "--item", "sku=a,price=100")
    assert discounts(third) == []
    assert "ProfileLimitReached" in third["ruleFailureReasons"][0]["details"]


@pytest.mark.parametrize(
    ("then", "message"),
    [
        ('{ effect = "set_discount", name = "x" }', "give either amount or percent"),
        (
            '{ effect = "set_discount", name = "x", amount = 1, percent = 1 }',
            "give either amount or percent",
        ),
        ('{ effect = "set_discount", name = "x", amount = 0 }', "amount: must be more than 0"),
        (
            '{ effect = "set_discount", name = "x", percent = 101 }',
            "percent: must be more than 0 and at most 100",
        ),
        (
            '{ effect = "set_discount", name = "x", amount = 1, scope = "items" }',
            'scope = "items" needs items',
        ),
        (
            '{ effect = "set_discount", name = "x", amount = 1, '
            'items = [{ attribute = "item.sku", value = "a" }] }',
            'items: only goes with scope = "items"',
        ),
        (
            '{ effect = "set_discount", name = "x", amount = 1, scope = "items", '
            'items = [{ event = "e" }] }',
            "event cannot be used inside an item filter",
        ),
        ('{ effect = "set_discount", amount = 1 }', "missing key 'name'"),
    ],
)
@pytest.mark.stateless
def test_set_discount_mistakes_are_load_errors(
    write: Callable[..., Refcamp], then: str, message: str
) -> None:
    rc = write(campaign(rule(CLOSED, then)))
    stderr = invalid(rc)
    assert "campaign1.toml: rule 1 'r': effect 1" in stderr
    assert message in stderr


# --- create_coupon -------------------------------------------------------------------------------


COUPONS = (
    '[campaign.coupons]\npattern = "WELCOME-####"\ncharacters = "ABC"\n'
    'usage_limit = 3\nvalid_for = "14D"\n'
)


def test_create_coupon_from_the_campaign_settings(write: Callable[..., Refcamp]) -> None:
    rc = write(campaign(rule(REGISTERED, '{ effect = "create_coupon" }'), extra=COUPONS))
    response = rc.json("profile", "update", "NEW")
    props = one(response, "couponCreated")
    code = props["value"]
    assert re.fullmatch(r"WELCOME-[ABC]{4}", code)
    assert props["profileId"] == "NEW"
    created = response["createdCoupons"]
    assert len(created) == 1
    assert created[0]["value"] == code
    assert created[0]["campaignId"] == rc.talon_id("campaign", "rl")
    assert created[0]["recipientIntegrationId"] == "NEW"
    assert created[0]["usageLimit"] == 3
    assert created[0]["usageCounter"] == 0
    assert created[0]["expiryDate"] == "2026-05-15T00:00:00.000Z"
    shown = rc.json("coupon", "show", code)
    assert {k: shown[k] for k in ("recipientIntegrationId", "usageLimit", "expiryDate")} == {
        "recipientIntegrationId": "NEW",
        "usageLimit": 3,
        "expiryDate": "2026-05-15T00:00:00.000Z",
    }
    # A known profile fires talon_profile_updated: no coupon.
    again = rc.json("profile", "update", "NEW")
    assert again["effects"] == []
    assert again["createdCoupons"] == []
    assert [c["value"] for c in rc.json("coupon", "list")] == [code]
    rc.check()


def test_create_coupon_overrides_and_no_coupon_without_a_customer(
    write: Callable[..., Refcamp],
) -> None:
    then = '{ effect = "create_coupon", usage_limit = 1, valid_for = "1D" }'
    rc = write(campaign(rule(CLOSED, then), extra=COUPONS))
    created = rc.close("S1", "--profile", "P")["createdCoupons"]
    assert created[0]["usageLimit"] == 1
    assert created[0]["expiryDate"] == "2026-05-02T00:00:00.000Z"
    anonymous = rc.close("S2", "--anonymous")
    assert anonymous["effects"] == []
    assert anonymous["createdCoupons"] == []
    rc.check()


def test_a_created_coupon_is_redeemable_by_its_customer_only(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(REGISTERED, '{ effect = "create_coupon" }', name="give"),
            rule(
                f'{{ coupon = "valid" }}, {CLOSED}',
                '{ effect = "set_discount", name = "welcome", amount = 5 }',
                name="use",
            ),
            extra=COUPONS,
        )
    )
    code = one(rc.json("profile", "update", "NEW"), "couponCreated")["value"]
    other = rc.close("S1", "--profile", "OTHER", "--coupon", code, "--item", "sku=a,price=20")
    assert types(other) == ["rejectCoupon"]
    assert other["effects"][0]["props"]["rejectionReason"] == "CouponRecipientDoesNotMatch"
    mine = rc.close("S2", "--profile", "NEW", "--coupon", code, "--item", "sku=a,price=20")
    assert types(mine) == ["acceptCoupon", "setDiscount"]
    assert rc.json("coupon", "show", code)["usageCounter"] == 1
    rc.check()


# --- reserve_coupon ------------------------------------------------------------------------------


def test_reserve_coupon_for_the_current_customer(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule('{ event = "vip_joined" }', '{ effect = "reserve_coupon", code = "VIP-GIFT" }')
        )
    )
    ok(rc("coupon", "create", "--campaign", "rl", "--code", "VIP-GIFT"))
    assert "recipientIntegrationId" not in rc.json("coupon", "show", "VIP-GIFT")  # nobody's
    first = rc.track("vip_joined", "--profile", "P")
    assert one(first, "reserveCoupon") == {
        "couponValue": "VIP-GIFT",
        "profileIntegrationId": "P",
        "isNewReservation": True,
    }
    # A soft reservation, as createCouponReservation's: the coupon keeps no recipient, it shows
    # in the customer's inventory, and another customer may reserve it too.
    assert "recipientIntegrationId" not in rc.json("coupon", "show", "VIP-GIFT")
    second = rc.track("vip_joined", "--profile", "P")
    assert one(second, "reserveCoupon")["isNewReservation"] is False
    assert [c["value"] for c in rc.json("profile", "show", "P")["coupons"]] == ["VIP-GIFT"]
    other = rc.track("vip_joined", "--profile", "Q")
    assert one(other, "reserveCoupon")["isNewReservation"] is True
    # Another event: no reservation.
    assert rc.track("vip_left", "--profile", "P")["effects"] == []
    rc.check()


def test_reserve_coupon_reserved_for_someone_else_or_missing_is_left_out_with_a_note(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(
                '{ event = "vip_joined" }',
                f'{{ effect = "reserve_coupon", code = "VIP-GIFT" }}, {HIT}',
            ),
            rule(
                '{ event = "lost" }', '{ effect = "reserve_coupon", code = "NO-SUCH" }', name="lost"
            ),
        )
    )
    ok(rc("coupon", "create", "--campaign", "rl", "--code", "VIP-GIFT", "--recipient", "P"))
    taken = ok(rc("event", "track", "vip_joined", "--profile", "Q", "--json"))
    assert types(taken.json) == ["showNotification"]
    assert "reserve_coupon: VIP-GIFT is reserved for P; not for Q" in taken.stderr
    assert rc.json("coupon", "show", "VIP-GIFT")["recipientIntegrationId"] == "P"
    missing = ok(rc("event", "track", "lost", "--profile", "Q", "--json"))
    assert missing.json["effects"] == []
    assert "reserve_coupon: no coupon 'NO-SUCH'; nothing reserved" in missing.stderr
    anonymous = rc.update("S1", "--anonymous")
    assert anonymous["effects"] == []
    rc.check()


# --- show_notification ---------------------------------------------------------------------------


def test_show_notification(write: Callable[..., Refcamp]) -> None:
    full = (
        '{ effect = "show_notification", type = "warning", title = "Almost there", '
        'body = "Add 10 more for free shipping." }'
    )
    rc = write(
        campaign(
            rule(attribute("session.total", "<", "50"), full, name="full"),
            rule(
                attribute("session.total", "<", "50"),
                '{ effect = "show_notification", title = "Hi" }',
                name="short",
            ),
        )
    )
    response = rc.update("S1", "--anonymous", "--item", "sku=a,price=40")
    assert [e["props"] for e in response["effects"]] == [
        {
            "notificationType": "warning",
            "title": "Almost there",
            "body": "Add 10 more for free shipping.",
        },
        {"notificationType": "info", "title": "Hi", "body": ""},
    ]
    assert rc.update("S2", "--anonymous", "--item", "sku=a,price=50")["effects"] == []
    rc.check()


# --- update_attribute ----------------------------------------------------------------------------


def test_update_attribute_on_the_profile_is_stored_and_survives_a_cancel(
    write: Callable[..., Refcamp],
) -> None:
    gold = '{ effect = "update_attribute", path = "profile.attributes.tier", value = "gold" }'
    rc = write(
        campaign(
            rule(f"{CLOSED}, {attribute('session.total', '>=', '100')}", gold, name="upgrade"),
            rule(attribute("profile.attributes.tier", "==", '"gold"'), HIT, name="gold"),
        )
    )
    ok(rc("profile", "update", "P", "--attr", "tier=silver", "--attr", "age=40"))
    small = rc.close("S0", "--profile", "P", "--item", "sku=a,price=10")
    assert small["effects"] == []
    closed = rc.close("S1", "--profile", "P", "--item", "sku=a,price=100")
    assert one(closed, "updateAttribute") == {"path": "profile.attributes.tier", "value": "gold"}
    assert not hit(closed)  # rules see the facts from before the request
    assert closed["customerProfile"]["attributes"] == {"tier": "gold", "age": 40}
    assert rc.json("profile", "show", "P")["profile"]["attributes"] == {"tier": "gold", "age": 40}
    cancelled = rc.json("session", "cancel", "S1")
    assert cancelled["customerProfile"]["attributes"]["tier"] == "gold"
    assert rc.json("profile", "show", "P")["profile"]["attributes"]["tier"] == "gold"
    assert hit(rc.update("S2", "--profile", "P"))  # a later request sees it
    rc.check()


def test_update_attribute_on_the_session(write: Callable[..., Refcamp]) -> None:
    then = ", ".join(
        [
            '{ effect = "update_attribute", path = "session.attributes.seen", value = true }',
            '{ effect = "update_attribute", path = "session.attributes.meta", '
            'value = { a = 1, b = ["x"] } }',
        ]
    )
    rc = write(campaign(rule(attribute("session.attributes.channel", "==", '"app"'), then)))
    response = rc.update("S1", "--profile", "P", "--attr", "channel=app")
    assert [e["props"] for e in response["effects"]] == [
        {"path": "session.attributes.seen", "value": True},
        {"path": "session.attributes.meta", "value": {"a": 1, "b": ["x"]}},
    ]
    expected = {"channel": "app", "seen": True, "meta": {"a": 1, "b": ["x"]}}
    assert response["customerSession"]["attributes"] == expected
    assert rc.json("session", "show", "S1")["customerSession"]["attributes"] == expected
    # Kept when the session is cancelled; the profile is untouched.
    rc.json("session", "cancel", "S1")
    assert rc.json("session", "show", "S1")["customerSession"]["attributes"] == expected
    assert rc.json("profile", "show", "P")["profile"]["attributes"] == {}
    web = rc.update("S2", "--profile", "P", "--attr", "channel=web")
    assert web["effects"] == []
    assert rc.json("session", "show", "S2")["customerSession"]["attributes"] == {"channel": "web"}
    rc.check()


def test_update_attribute_does_not_apply_without_its_owner(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(
                attribute("event.attributes.x", "exists", "false"),
                '{ effect = "update_attribute", path = "profile.attributes.seen", value = 1 }',
                name="profile",
            ),
            rule(
                '{ event = "ping" }',
                '{ effect = "update_attribute", path = "session.attributes.seen", value = 1 }',
                name="session",
            ),
        )
    )
    anonymous = rc.update("S1", "--anonymous")
    assert anonymous["effects"] == []  # no profile to update
    pinged = rc.track("ping", "--profile", "P", "--attr", "x=1")  # no session to update
    assert pinged["effects"] == []
    assert rc.json("profile", "show", "P")["profile"]["attributes"] == {}
    rc.check()


def test_update_attribute_stores_a_name_with_a_double_quote(
    write: Callable[..., Refcamp],
) -> None:
    then = '{ effect = "update_attribute", path = \'profile.attributes.say"hi\', value = 1 }'
    rc = write(campaign(rule(CLOSED, then)))
    closed = rc.close("S1", "--profile", "P")
    assert closed["customerProfile"]["attributes"] == {'say"hi': 1}
    assert rc.json("profile", "show", "P")["profile"]["attributes"] == {'say"hi': 1}


@pytest.mark.parametrize(
    ("then", "message"),
    [
        (
            '{ effect = "update_attribute", path = "event.attributes.x", value = 1 }',
            "must be profile.attributes.NAME",
        ),
        (
            '{ effect = "update_attribute", path = "profile.attributes.", value = 1 }',
            "must be profile.attributes.NAME",
        ),
        ('{ effect = "update_attribute", path = "profile.attributes.x" }', "missing key 'value'"),
    ],
)
@pytest.mark.stateless
def test_update_attribute_mistakes_are_load_errors(
    write: Callable[..., Refcamp], then: str, message: str
) -> None:
    rc = write(campaign(rule(CLOSED, then)))
    stderr = invalid(rc)
    assert "campaign1.toml: rule 1 'r': effect 1" in stderr
    assert message in stderr


# --- add_to_audience / remove_from_audience ------------------------------------------------------


def test_audience_effects_change_membership(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(
                '{ event = "join_club" }',
                '{ effect = "add_to_audience", audience = "club" }',
                name="join",
            ),
            rule(
                '{ event = "leave_club" }',
                '{ effect = "remove_from_audience", audience = "club" }',
                name="leave",
            ),
            rule(f'{{ audience = "club" }}, {CLOSED}', HIT, name="member"),
        )
    )
    assert not hit(rc.close("S0", "--profile", "P"))
    joined = rc.track("join_club", "--profile", "P")
    club = rc.talon_id("audience", "club")
    assert one(joined, "addToAudience") == {
        "audienceName": "club",
        "audienceId": club,
        "profileIntegrationId": "P",
    }
    assert audiences(joined) == ["club"]
    assert hit(rc.close("S1", "--profile", "P"))
    assert audiences(rc.track("join_club", "--profile", "P")) == ["club"]  # joining twice
    left = rc.track("leave_club", "--profile", "P")
    assert one(left, "removeFromAudience") == {
        "audienceName": "club",
        "audienceId": club,
        "profileIntegrationId": "P",
    }
    assert audiences(left) == []
    assert not hit(rc.close("S2", "--profile", "P"))
    # Leaving an audience one is not in is harmless.
    assert audiences(rc.track("leave_club", "--profile", "Q")) == []
    rc.check()


def test_audience_effects_need_a_customer(write: Callable[..., Refcamp]) -> None:
    rc = write(
        campaign(
            rule(
                attribute("session.total", ">", "0"),
                '{ effect = "add_to_audience", audience = "buyers" }, '
                '{ effect = "remove_from_audience", audience = "browsers" }',
            )
        )
    )
    assert rc.update("S1", "--anonymous", "--item", "sku=a,price=5")["effects"] == []
    ok(rc("profile", "update", "P", "--audience-add", "browsers", "--no-rules"))
    response = rc.update("S2", "--profile", "P", "--item", "sku=a,price=5")
    assert types(response) == ["addToAudience", "removeFromAudience"]
    assert audiences(response) == ["buyers"]
    assert rc.update("S3", "--profile", "P")["effects"] == []
    rc.check()


# --- custom_effect -------------------------------------------------------------------------------


def test_custom_effect_passes_its_payload_through_as_json(write: Callable[..., Refcamp]) -> None:
    gift = (
        '{ effect = "custom_effect", name = "send_gift", payload = { sku = "GIFT-1", quantity = 1, '
        'price = 2.5, wrap = true, tags = ["a", "b"], box = { size = "M" }, '
        "at = 2026-01-01T10:00:00Z } }"
    )
    rc = write(
        campaign(
            rule(CLOSED, gift, name="gift"),
            rule(CLOSED, '{ effect = "custom_effect", name = "ping" }', name="bare"),
        )
    )
    response = rc.close("S1", "--profile", "P")
    assert [e["props"] for e in response["effects"]] == [
        {
            "name": "send_gift",
            "payload": {
                "sku": "GIFT-1",
                "quantity": 1,
                "price": 2.5,
                "wrap": True,
                "tags": ["a", "b"],
                "box": {"size": "M"},
                "at": "2026-01-01T10:00:00.000Z",  # refcamp's own time format
            },
            "effectId": rc.talon_id("effect", "send_gift"),
        },
        {"name": "ping", "payload": {}, "effectId": rc.talon_id("effect", "ping")},
    ]
    assert types(response) == ["customEffect", "customEffect"]
    assert rc.update("S2", "--profile", "P")["effects"] == []
    rc.check()


# --- several campaigns: priority, then id; rules top to bottom; effects in order ----------------


def note(title: str) -> str:
    return f'{{ effect = "show_notification", title = "{title}" }}'


def test_campaigns_run_by_priority_then_id_rules_in_order_effects_in_order(
    write: Callable[..., Refcamp],
) -> None:
    def two_rules(cid: str) -> tuple[str, ...]:
        return (
            rule(CLOSED, f"{note(f'{cid} 1a')}, {note(f'{cid} 1b')}", name="first"),
            rule(attribute("session.total", "<", "0"), note(f"{cid} never"), name="never"),
            rule(CLOSED, note(f"{cid} 3"), name="third"),
        )

    rc = write(
        campaign(*two_rules("zeta"), cid="zeta", priority=-1),
        campaign(*two_rules("later"), cid="later", priority=5),
        campaign(*two_rules("beta"), cid="beta", priority=0),
        campaign(*two_rules("alpha"), cid="alpha", priority=0),
    )
    response = rc.close("S1", "--profile", "P")
    assert [e["props"]["title"] for e in response["effects"]] == [
        "zeta 1a",
        "zeta 1b",
        "zeta 3",
        "alpha 1a",
        "alpha 1b",
        "alpha 3",
        "beta 1a",
        "beta 1b",
        "beta 3",
        "later 1a",
        "later 1b",
        "later 3",
    ]
    ids = {cid: rc.talon_id("campaign", cid) for cid in ("zeta", "later", "beta", "alpha")}
    assert [(e["campaignId"], e["ruleIndex"]) for e in response["effects"]][:3] == [
        (ids["zeta"], 0),
        (ids["zeta"], 0),
        (ids["zeta"], 2),
    ]
    reasons = response["ruleFailureReasons"]
    assert [(r["campaignID"], r["ruleIndex"], r["ruleName"]) for r in reasons] == [
        (ids["zeta"], 1, "never"),
        (ids["alpha"], 1, "never"),
        (ids["beta"], 1, "never"),
        (ids["later"], 1, "never"),
    ]
    rc.check()


def test_two_campaigns_react_to_one_request_with_different_effect_kinds(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(
                CLOSED,
                '{ effect = "add_loyalty_points", program = "wallet", points_per = 1, '
                'of = "session.total" }',
            ),
            cid="points",
            priority=2,
            wallet=True,
        ),
        campaign(
            rule(
                CLOSED, '{ effect = "set_discount", name = "5 off", amount = 5 }, ' + note("thanks")
            ),
            cid="discount",
            priority=1,
        ),
        campaign(rule(CLOSED, note("off")), cid="disabled").replace('"enabled"', '"disabled"'),
    )
    response = rc.close("S1", "--profile", "P", "--item", "sku=a,price=42")
    ids = {cid: rc.talon_id("campaign", cid) for cid in ("points", "discount", "disabled")}
    assert [(e["campaignId"], e["effectType"]) for e in response["effects"]] == [
        (ids["discount"], "setDiscount"),
        (ids["discount"], "showNotification"),
        (ids["points"], "addLoyaltyPoints"),
    ]
    # Points are counted on the session total, not on what is left after the discount.
    assert response["effects"][2]["props"]["value"] == 42
    assert rc.current("P") == 42
    ok(rc("campaign", "activate", "disabled"))
    again = rc.close("S2", "--profile", "P", "--item", "sku=a,price=1")
    assert [e["campaignId"] for e in again["effects"]] == [
        ids["disabled"],
        ids["discount"],
        ids["discount"],
        ids["points"],
    ]
    rc.check()


# --- --explain and ruleFailureReasons ------------------------------------------------------------


def test_explain_on_session_close_shows_the_failing_condition_and_the_value_seen(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(rule(f"{CLOSED}, {attribute('session.total', '>=', '50')}", HIT, name="Big carts"))
    )
    result = ok(
        rc("session", "close", "S1", "--profile", "P", "--item", "sku=a,price=40.0", "--explain")
    )
    assert "No effects." in result.stdout
    lines = [line for line in result.stdout.splitlines() if "session.total" in line]
    assert any(
        "session.total = 40.00" in line and ">= 50" in line and "no" in line for line in lines
    )
    assert any("Big carts" in line for line in result.stdout.splitlines())
    assert "talon_session_closed" in result.stdout
    # Without --explain, a one-line reason on stderr.
    plain = ok(rc("session", "close", "S2", "--profile", "P", "--item", "sku=a,price=40.0"))
    assert (
        "Rule 'Big carts' (rl) did not fire: session.total >= 50 — saw session.total = 40.00"
        in (plain.stderr)
    )
    rc.check()


def test_explain_as_json_has_every_condition_with_seen_and_needed(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(
        campaign(
            rule(f"{CLOSED}, {attribute('session.total', '>=', '50')}", HIT, name="Big carts"),
            rule('{ audience = "vip" }', HIT, name="VIP"),
        )
    )
    args = ("session", "close", "S1", "--profile", "P", "--item", "sku=a,price=40.0", "--json")
    explained = ok(rc(*args, "--explain")).json
    rules = explained["explanation"]["rules"]
    rl = rc.talon_id("campaign", "rl")
    assert [
        (r["campaignId"], r["campaign"], r["ruleIndex"], r["ruleName"], r["fired"]) for r in rules
    ] == [
        (rl, "rl", 0, "Big carts", False),
        (rl, "rl", 1, "VIP", False),
    ]
    assert rules[0]["conditions"] == [
        {
            "conditionIndex": 0,
            "condition": "Customer Session Closing",
            "passed": True,
            "seen": "talon_session_created, talon_session_closed",
            "needed": "talon_session_closed",
        },
        {
            "conditionIndex": 1,
            "condition": "session.total >= 50",
            "passed": False,
            "seen": "session.total = 40.00",
            "needed": ">= 50",
        },
    ]
    assert rules[1]["conditions"][0]["seen"] == "audiences: no audience"
    assert explained["explanation"]["notRunning"] == {}
    plain = ok(
        rc("session", "close", "S2", "--profile", "P", "--item", "sku=a,price=40.0", "--json")
    ).json
    assert "explanation" not in plain
    reasons = plain["ruleFailureReasons"]
    assert reasons[0] == {
        "campaignID": rl,
        "campaignName": "rl",
        "rulesetID": rc.talon_id("ruleset", "rl"),
        "ruleIndex": 0,
        "ruleName": "Big carts",
        "conditionIndex": 1,
        "details": "session.total >= 50: saw session.total = 40.00, needs >= 50",
    }
    assert reasons[1]["ruleName"] == "VIP"
    assert reasons[1]["conditionIndex"] == 0
    fired = ok(
        rc(
            "session",
            "close",
            "S3",
            "--profile",
            "P",
            "--item",
            "sku=a,price=50",
            "--json",
            "--explain",
        )
    ).json
    assert hit(fired)
    assert fired["explanation"]["rules"][0]["fired"] is True
    assert [r["ruleName"] for r in fired["ruleFailureReasons"]] == ["VIP"]
    rc.check()


def test_explain_on_event_track(write: Callable[..., Refcamp]) -> None:
    when = f'{{ event = "review_posted" }}, {attribute("event.attributes.stars", ">=", "4")}'
    rc = write(campaign(rule(when, HIT, name="Good review")))
    result = ok(
        rc("event", "track", "review_posted", "--profile", "P", "--attr", "stars=2", "--explain")
    )
    assert "No effects." in result.stdout
    assert any(
        "event.attributes.stars = 2" in line and ">= 4" in line
        for line in result.stdout.splitlines()
    ), result.stdout
    explained = rc.json(
        "event", "track", "review_posted", "--profile", "P", "--attr", "stars=2", "--explain"
    )
    conditions = explained["explanation"]["rules"][0]["conditions"]
    assert [(c["passed"], c["seen"], c["needed"]) for c in conditions] == [
        (True, "review_posted", "review_posted"),
        (False, "event.attributes.stars = 2", ">= 4"),
    ]
    plain = rc.track("review_posted", "--profile", "P", "--attr", "stars=2")
    assert plain["ruleFailureReasons"][0]["conditionIndex"] == 1
    assert plain["ruleFailureReasons"][0]["details"].endswith(
        "saw event.attributes.stars = 2, needs >= 4"
    )
    other = rc.json("event", "track", "photo_posted", "--profile", "P", "--explain")
    first = other["explanation"]["rules"][0]["conditions"][0]
    assert (first["passed"], first["seen"]) == (False, "photo_posted")
    rc.check()


def test_explain_shows_combinators_and_items(write: Callable[..., Refcamp]) -> None:
    inner = any_item(attribute("item.category", "==", '"Bags"'))
    rc = write(campaign(rule(f"{any_of(inner, GOLD)}, {not_(BIG)}")))
    response = rc.json(
        "session",
        "update",
        "S1",
        "--profile",
        "P",
        "--item",
        "sku=a,category=Shoes,price=60.0",
        "--explain",
    )
    conditions = response["explanation"]["rules"][0]["conditions"]
    assert conditions[0]["passed"] is False
    assert conditions[0]["seen"] == "0 of 1 items match; session.attributes.tier = missing"
    assert conditions[1] == {
        "conditionIndex": 1,
        "condition": "not session.total >= 50",
        "passed": False,
        "seen": "session.total = 60.00",
        "needed": "not (>= 50)",
    }
    bag = rc.json(
        "session",
        "update",
        "S2",
        "--profile",
        "P",
        "--item",
        "sku=b,category=Bags,price=10",
        "--explain",
    )
    assert hit(bag)
    assert bag["explanation"]["rules"][0]["conditions"][0]["seen"] == "1 of 1 items match (b)"
    rc.check()


def test_explain_shows_a_total_the_same_way_whatever_the_price_was_typed(
    write: Callable[..., Refcamp],
) -> None:
    rc = write(campaign(rule(attribute("session.total", ">=", "50"))))
    seen = []
    for index, price in enumerate(["40", "40.0"]):
        response = rc.json(
            "session",
            "update",
            f"S{index}",
            "--profile",
            "P",
            "--item",
            f"sku=a,price={price}",
            "--explain",
        )
        seen.append(response["explanation"]["rules"][0]["conditions"][0]["seen"])
    assert seen == ["session.total = 40.00", "session.total = 40.00"]
