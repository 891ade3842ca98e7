"""Hardening: whatever a request body, replay line, campaign file, identifier or state file holds,
refcamp answers with a result or with one clear line, never a traceback, and never writes half a
request.

The property tests build inputs from valid and invalid pieces and keep track of every piece that
must be refused (the field it is in): an input with no such piece must succeed (exit 0, strict JSON
on stdout), one with any must exit 2 with one `refcamp: error:` line naming one of those fields,
and leave the state file exactly as it was (no commit at all: PRAGMA data_version does not move).
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import tomli_w
from conftest import check_db, examples, program_of, state_rows, strict_loads, talon_id
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from refcamp.payloads import VISIBLE
from refcamp.store.migrations import MIGRATIONS

Run = Callable[..., Any]  # conftest's `run` fixture

# The counts are the full run's; the default run draws a share of each (conftest.examples).
FAST = settings(
    max_examples=examples(70),
    deadline=None,
    # Shrinking a CLI run is slow (minutes); a failure still prints every draw.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
# Each example of FEW is ten commands on a fresh state file.
FEW = settings(FAST, max_examples=examples(25))
UNICODE_ID = "Zoë 東京 🙂"
# JSON numbers refcamp refuses: beyond 1e15 (infinite as floats, or no float at all).
TOO_LARGE = ["1e400", "-1e999", "1e16", "10000000000000001", "1" + "0" * 400, "-" + "9" * 5000]
TIMEOUT = 120
_numbers = itertools.count(1)


# --- checking outcomes ---------------------------------------------------------------------------


def error_line(result: Any, code: int = 2) -> str:
    """Exit `code`, nothing on stdout, exactly one 'refcamp: error:' line; no traceback."""
    assert result.exit_code == code, result
    assert result.stdout == "", result
    assert "Traceback" not in result.stderr, result
    assert "internal error" not in result.stderr, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("refcamp: error:"), result
    return lines[0]


def assert_outcome(result: Any, faults: list[str], not_found: bool = False) -> Any:
    """No fault: exit 0 and strict JSON on stdout (returned). Faults: exit 2 naming one of them.
    `not_found` (and no fault): exit 1, one line saying what does not exist."""
    event("refused" if faults else "not found" if not_found else "accepted")
    assert "Traceback" not in result.stderr + result.stdout, result
    assert "internal error" not in result.stderr, result
    if faults:
        message = error_line(result, 2)
        assert any(f in message for f in faults), (faults, message)
        return None
    if not_found:
        assert "no customer session" in error_line(result, 1)
        return None
    assert result.exit_code == 0, result
    return strict_loads(result.stdout)


class Commits:
    """Whether anything was committed to the state since the last look: SQLite's data_version
    for a file (any commit, even one that changed nothing); every row of every table for a
    PostgreSQL database, which keeps no such number."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.conn = None if where.startswith("postgresql://") else sqlite3.connect(where)
        self.seen = self.version()

    def version(self) -> object:
        if self.conn is None:
            return state_rows(self.where)
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        now = self.version()
        changed, self.seen = now != self.seen, now
        return changed

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@contextmanager
def watching(run: Run) -> Iterator[Commits]:
    """The default state file, created by a harmless request, watched for commits."""
    assert run("campaign", "list", "--json").exit_code == 0
    commits = Commits(os.environ["REFCAMP_DB"])
    try:
        yield commits
    finally:
        commits.close()


# --- JSON with tokens json.dumps cannot write ----------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Text put into a JSON document as it is: NaN, Infinity, 1e400, broken nesting."""

    text: str


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        inner = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {dump(v)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# --- strategies ----------------------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
# Ids: any Unicode but controls (Cc), lone surrogates (Cs) and invisible format characters (Cf),
# with a visible character (the others are refused: test_input_attack.py).
id_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf")), min_size=1, max_size=20
).filter(VISIBLE.search)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**15) + 1, 10**15),  # see test_negative_integer_at_the_limit_is_kept
    st.floats(-1e15, 1e15),
    any_text,
    st.just("é" * 1001),  # attribute values have no length limit
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(any_text, json_values, max_size=4)
RESPONSE_CONTENT = ["customerSession", "customerProfile", "coupons", "loyalty", "referral"]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


PARSING = ("payload stdin", "too large a number")  # found by the JSON parser, before all else


@dataclass
class Body:
    """A request body under construction and the fields it has wrong."""

    value: Any = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    not_found: bool = False
    clean: bool = False  # only valid pieces: half the bodies, so success is tested as much


def choose(draw: Any, body: Body, valid: list[Any], invalid: list[Any]) -> Any:
    return draw(st.sampled_from(valid if body.clean else [*valid, *invalid]))


def key(draw: Any, name: str) -> str:
    """Known keys match in any case, as in recorded Talon.One traffic."""
    return draw(st.sampled_from([name, name, name.upper(), name[0].upper() + name[1:]]))


def add_attributes(
    draw: Any, target: dict, body: Body, where: str, deep: tuple[str, int] | None = None
) -> None:
    """An attributes object at `target`; `deep` is (the object the depth check starts at, the
    nesting of lists in an attribute that first exceeds 20 levels from there)."""
    checked, too_deep = deep or (where, 20)
    kind = choose(draw, body, ["omit", "object"], ["deep", "not-object", "nan", "too-large"])
    name = key(draw, "attributes")
    if kind == "object":
        target[name] = draw(json_objects)
    elif kind == "deep":
        depth = draw(st.integers(too_deep - 3, too_deep + 3))
        target[name] = {"a": nested(depth)}
        if depth >= too_deep:
            body.faults.append(checked)
    elif kind == "not-object":
        target[name] = draw(st.sampled_from([[], "text", 5, True]))
        body.faults.append(where)
    elif kind == "nan":
        target[name] = {"x": Raw(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])))}
        body.faults.append("payload stdin")
    elif kind == "too-large":
        target[name] = {"x": [1, Raw(draw(st.sampled_from(TOO_LARGE)))]}
        body.faults.append("too large a number")


def add_response_content(draw: Any, target: dict, body: Body) -> None:
    kind = choose(draw, body, ["omit", "omit", "valid"], ["unknown", "not-list"])
    name = key(draw, "responseContent")
    if kind == "valid":
        target[name] = draw(st.lists(st.sampled_from(RESPONSE_CONTENT), max_size=3))
    elif kind == "unknown":
        target[name] = ["customerSession", "everything"]
        body.faults.append("responseContent[1]")
    elif kind == "not-list":
        target[name] = "loyalty"
        body.faults.append("responseContent")


def cart_item(draw: Any, index: int, body: Body) -> Any:
    where = f"customerSession.cartItems[{index}]"
    if not body.clean and draw(st.integers(0, 12)) == 0:
        body.faults.append(where)
        return draw(st.sampled_from(["sku-1", 3, None, ["sku-1"]]))
    item: dict[str, Any] = {}
    sku = choose(draw, body, ["valid", "valid", "unicode"], ["missing", "number", "long"])
    if sku == "valid":
        item[key(draw, "sku")] = f"sku-{index}"
    elif sku == "unicode":
        item[key(draw, "sku")] = draw(any_text)
    elif sku == "number":
        item["sku"] = 4
        body.faults.append(f"{where}.sku")
    elif sku == "long":
        item["sku"] = "s" * 1001
        body.faults.append(f"{where}.sku")
    else:
        body.faults.append(f"{where}.sku")
    quantity = choose(
        draw, body, ["valid", "valid"], ["zero", "negative", "float", "text", "bool", "missing"]
    )
    bad_quantity = {"zero": 0, "negative": -3, "float": 1.5, "text": "2", "bool": True}
    if quantity == "valid":
        item[key(draw, "quantity")] = draw(st.integers(1, 10**6))
    elif quantity in bad_quantity:
        item["quantity"] = bad_quantity[quantity]
    if quantity != "valid":
        body.faults.append(f"{where}.quantity")
    price = choose(
        draw, body, ["omit", "valid", "valid"], ["text", "negative", "bool", "overflow", "nan"]
    )
    if price == "valid":
        item[key(draw, "price")] = draw(
            st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False))
        )
    elif price == "text":
        item["price"] = "abc"
    elif price == "negative":
        item["price"] = -0.5
    elif price == "bool":
        item["price"] = False
    elif price == "overflow":
        item["price"] = Raw(draw(st.sampled_from(TOO_LARGE)))
    elif price == "nan":
        item["price"] = Raw("NaN")
    if price in ("text", "negative", "bool"):
        body.faults.append(f"{where}.price")
    if price == "overflow":
        body.faults.append("too large a number")
    if price == "nan":
        body.faults.append("payload stdin")
    for text_field in ("name", "category"):
        kind = choose(draw, body, ["omit", "unicode"], ["long", "number"])
        if kind == "unicode":
            item[key(draw, text_field)] = draw(any_text)
        elif kind == "long":
            item[text_field] = "n" * 1001
            body.faults.append(f"{where}.{text_field}")
        elif kind == "number":
            item[text_field] = 7
            body.faults.append(f"{where}.{text_field}")
    if draw(st.booleans()):
        item["colour"] = "red"  # unknown: a note, not an error
    add_attributes(draw, item, body, f"{where}.attributes")  # checked from the attributes
    return item


@st.composite
def session_bodies(draw: Any, n: int) -> Body:
    body = Body(clean=draw(st.booleans()))
    session: dict[str, Any] = {}
    top: dict[str, Any] = {key(draw, "customerSession"): session}
    body.value = top

    profile = choose(
        draw,
        body,
        ["omit", "valid", "unicode", "empty", "null", "max"],
        ["number", "control", "long"],
    )
    name = key(draw, "profileId")
    if profile == "valid":
        session[name] = f"P{n}"
    elif profile == "unicode":
        session[name] = f"P{n}-{draw(id_text)}"
    elif profile == "empty":
        session[name] = ""  # an anonymous session
    elif profile == "null":
        session[name] = None
    elif profile == "number":
        session[name] = n
    elif profile == "control":
        session[name] = f"P{n}\x07{draw(id_text)}"
    elif profile == "long":
        session[name] = f"P{n}-" + "x" * 1000
    elif profile == "max":
        session[name] = f"P{n}-".ljust(1000, "é")
    if profile in ("number", "control", "long"):
        body.faults.append("customerSession.profileId")

    state = choose(draw, body, ["omit", "open", "closed", "cancelled"], ["bogus", "number", "long"])
    name = key(draw, "state")
    if state in ("open", "closed", "cancelled"):
        session[name] = state
    elif state == "bogus":
        session[name] = draw(any_text.filter(lambda s: s not in ("open", "closed", "cancelled")))
    elif state == "number":
        session[name] = 1
    elif state == "long":
        session[name] = "o" * 1001
    # The sessions drawn here are new: "Sessions can be created as `open` or `closed`"
    # (NewCustomerSessionV2.state), so a new one asked to be cancelled is refused too.
    if state in ("bogus", "number", "long", "cancelled"):
        body.faults.append("customerSession.state")

    items = choose(draw, body, ["omit", "list", "list", "list", "max"], ["not-list", "too-many"])
    name = key(draw, "cartItems")
    if items == "list":
        count = draw(st.integers(0, 4))
        session[name] = [cart_item(draw, i, body) for i in range(count)]
    elif items == "not-list":
        session[name] = draw(st.sampled_from([{"sku": "a", "quantity": 1}, "sku-1", 1]))
        body.faults.append("customerSession.cartItems")
    elif items in ("too-many", "max"):
        count = 1001 if items == "too-many" else 1000
        session[name] = [{"sku": f"s{i}", "quantity": 1, "price": 1} for i in range(count)]
        if items == "too-many":
            body.faults.append("customerSession.cartItems")

    coupons = choose(draw, body, ["omit", "valid"], ["number", "control", "not-list"])
    name = key(draw, "couponCodes")
    if coupons == "valid":
        session[name] = draw(st.lists(id_text, max_size=3))
    elif coupons == "number":
        session[name] = ["C1", 2]
        body.faults.append("customerSession.couponCodes[1]")
    elif coupons == "control":
        session[name] = ["C\n1"]
        body.faults.append("customerSession.couponCodes[0]")
    elif coupons == "not-list":
        session[name] = "C1"
        body.faults.append("customerSession.couponCodes")

    referral = choose(draw, body, ["omit", "valid", "empty"], ["number", "control", "long"])
    name = key(draw, "referralCode")
    if referral == "valid":
        session[name] = draw(id_text)
    elif referral == "empty":
        session[name] = ""
    elif referral == "number":
        session[name] = 12
    elif referral == "control":
        session[name] = "AB\x7fCD"
    elif referral == "long":
        session[name] = "R" * 1001
    if referral in ("number", "control", "long"):
        body.faults.append("customerSession.referralCode")

    costs = choose(draw, body, ["omit", "valid"], ["text", "not-object", "missing", "overflow"])
    name = key(draw, "additionalCosts")
    if costs == "valid":
        session[name] = {"shipping": {"price": draw(st.integers(0, 1000))}}
    elif costs == "text":
        session[name] = {"shipping": {"price": "abc"}}
        body.faults.append("customerSession.additionalCosts.shipping.price")
    elif costs == "not-object":
        session[name] = {"shipping": 5}
        body.faults.append("customerSession.additionalCosts.shipping")
    elif costs == "missing":
        session[name] = {"shipping": {}}
        body.faults.append("customerSession.additionalCosts.shipping.price")
    elif costs == "overflow":
        session[name] = {"shipping": {"price": Raw(draw(st.sampled_from(TOO_LARGE)))}}
        body.faults.append("too large a number")

    identifiers = choose(draw, body, ["omit", "valid"], ["number"])
    if identifiers == "valid":
        session[key(draw, "identifiers")] = draw(st.lists(any_text, max_size=2))
    elif identifiers == "number":
        session["identifiers"] = [1]
        body.faults.append("customerSession.identifiers[0]")

    add_attributes(draw, session, body, "customerSession.attributes")
    add_response_content(draw, top, body)
    if draw(st.booleans()):
        top["unknownField"] = draw(json_values)  # a note, not an error

    whole = 99 if body.clean else draw(st.integers(0, 15))
    if whole == 0:  # not an object at all
        body.value = draw(st.sampled_from([[], [top], "text", 42, None, True]))
        body.faults = ["request body", *(f for f in body.faults if f in PARSING)]
    elif whole == 1:  # the customerSession is not an object
        body.value = {"customerSession": draw(st.sampled_from([[], "S", 1]))}
        body.faults = ["customerSession"]
    elif whole == 2:
        body.value = Raw("[" * 50_000 + "]" * 50_000)
        body.faults = ["payload stdin"]
    return body


@st.composite
def profile_bodies(draw: Any, n: int) -> Body:
    body = Body(clean=draw(st.booleans()))
    top: dict[str, Any] = {}
    body.value = top
    add_attributes(draw, top, body, "attributes")
    changes = choose(draw, body, ["omit", "valid"], ["number", "not-list", "control", "not-obj"])
    name = key(draw, "audiencesChanges")
    if changes == "valid":
        top[name] = {
            key(draw, "adds"): [f"A{n}-{t}" for t in draw(st.lists(id_text, max_size=2))],
            key(draw, "deletes"): draw(st.lists(id_text, max_size=2)),
        }
    elif changes == "number":  # an audience is a name or Talon.One's integer id, not a boolean
        top[name] = {"adds": ["vip", True]}
        body.faults.append("audiencesChanges.adds[1]")
    elif changes == "not-list":
        top[name] = {"deletes": "vip"}
        body.faults.append("audiencesChanges.deletes")
    elif changes == "control":
        top[name] = {"adds": ["v\x00ip"]}
        body.faults.append("audience")
    elif changes == "not-obj":
        top[name] = ["vip"]
        body.faults.append("audiencesChanges")
    add_response_content(draw, top, body)
    if draw(st.booleans()):
        top["loyaltyProgramId"] = draw(json_values)  # a note, not an error
    whole = 99 if body.clean else draw(st.integers(0, 15))
    if whole == 0:
        body.value = draw(st.sampled_from([[], [top], "text", 42, None, False]))
        body.faults = ["request body", *(f for f in body.faults if f in PARSING)]
    elif whole == 1:
        body.value = Raw("{" + '"a": [' * 30_000)
        body.faults = ["payload stdin"]
    return body


@st.composite
def event_bodies(draw: Any, n: int, anonymous_session: str) -> Body:
    """An event body. One without profileId is valid: an anonymous event, as every door (the CLI,
    replay, HTTP) takes it, like Talon.One."""
    body = Body(clean=draw(st.booleans()))
    top: dict[str, Any] = {}
    body.value = top
    kind = choose(
        draw,
        body,
        ["valid", "valid", "unicode", "long"],
        ["missing", "number", "talon", "space", "too-long"],
    )
    name = key(draw, "type")
    if kind == "valid":
        top[name] = draw(st.sampled_from(["review_posted", "app.opened", "x-1"]))
    elif kind == "unicode":
        top[name] = "Zoë東京"  # letters in any script
    elif kind == "missing":
        body.faults.append("event TYPE")
    elif kind == "number":
        top[name] = 5
        body.faults.append("type")
    elif kind == "talon":
        top[name] = "talon_session_closed"
        body.faults.append("event type")
    elif kind == "space":
        top[name] = "review posted"
        body.faults.append("event type")
    elif kind == "long":
        top[name] = "e" * 255
    elif kind == "too-long":
        top[name] = "e" * 256
        body.faults.append("type")
    profile = choose(draw, body, ["valid", "valid", "unicode"], ["missing", "number", "control"])
    name = key(draw, "profileId")
    if profile == "valid":
        top[name] = f"P{n}"
    elif profile == "unicode":
        top[name] = f"P{n}-{draw(id_text)}"
    elif profile == "number":
        top[name] = n
        body.faults.append("profileId")
    elif profile == "control":
        top[name] = f"P{n}\x1b"
        body.faults.append("profileId")
    session = choose(draw, body, ["omit", "omit", "known"], ["unknown", "number"])
    name = key(draw, "sessionId")
    if session == "known":
        top[name] = anonymous_session
    elif session == "unknown":
        top[name] = f"NO-SUCH-SESSION-{n}"
        body.not_found = True
    elif session == "number":
        top[name] = 1
        body.faults.append("sessionId")
    add_attributes(draw, top, body, "attributes")
    add_response_content(draw, top, body)
    if not body.clean and draw(st.integers(0, 15)) == 0:
        body.value = draw(st.sampled_from([[], "text", 42, None]))
        body.faults = ["request body"]
    return body


def text_of(body: Body) -> str:
    return dump(body.value)


# --- request bodies through the CLI --------------------------------------------------------------


def check_nothing_written(run: Run, commits: Commits, session: str | None, profiles: list[str]):
    assert not commits.changed(), "a refused request committed something"
    if session is not None:
        assert run("session", "show", session).exit_code == 1
    for profile in profiles:
        assert run("profile", "show", "--", profile).exit_code == 1


def profile_ids_in(value: Any, n: int) -> list[str]:
    """The profile ids of this example (all start with P<n>) a body names, when they are ids."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k.lower() == "profileid" and isinstance(v, str) and v.startswith(f"P{n}"):
                found.append(v)
            found += profile_ids_in(v, n)
    return found


@pytest.mark.both_engines
@pytest.mark.slow
def test_session_bodies_succeed_or_name_the_field(run: Run, tmp_path: Path) -> None:
    with watching(run) as commits:

        @FAST
        @given(data=st.data(), via_file=st.integers(0, 4))
        def check(data: Any, via_file: int) -> None:
            n = next(_numbers)
            body = data.draw(session_bodies(n))
            text = text_of(body)
            session = f"S{n}"
            if via_file == 0:  # from a file, sometimes with bytes that are not UTF-8
                path = tmp_path / f"body-{n}.json"
                raw = text.encode()
                if data.draw(st.booleans()):
                    at = data.draw(st.integers(0, len(raw)))
                    raw = raw[:at] + b"\xff\xfe" + raw[at:]
                    body.faults = ["not UTF-8"]
                path.write_bytes(raw)
                body.faults = [f.replace("payload stdin", f"payload {path}") for f in body.faults]
                result = run("session", "update", session, "--payload", str(path), "--json")
                if "not UTF-8" in body.faults:
                    assert str(path) in result.stderr
            else:
                result = run("session", "update", session, "--payload", "-", "--json", input=text)
            response = assert_outcome(result, body.faults)
            if response is None:
                check_nothing_written(run, commits, session, profile_ids_in(body.value, n))
            else:
                assert response["customerSession"]["integrationId"] == session
                assert commits.changed(), "an accepted request committed nothing"

        check()
    check_db(run)


@pytest.mark.slow
def test_profile_bodies_succeed_or_name_the_field(run: Run) -> None:
    with watching(run) as commits:

        @FAST
        @given(data=st.data(), suffix=id_text)
        def check(data: Any, suffix: str) -> None:
            n = next(_numbers)
            body = data.draw(profile_bodies(n))
            profile = f"P{n}-{suffix}"
            result = run(
                "profile", "update", "--json", "--payload", "-", "--", profile, input=text_of(body)
            )
            response = assert_outcome(result, body.faults)
            if response is None:
                check_nothing_written(run, commits, None, [profile])
            else:
                assert response["customerProfile"]["integrationId"] == profile
                memberships = {
                    a["name"] for a in response["customerProfile"]["audienceMemberships"]
                }
                changes = next(
                    (v for k, v in body.value.items() if k.lower() == "audienceschanges"), {}
                )
                adds = next((v for k, v in changes.items() if k.lower() == "adds"), [])
                assert set(adds) <= memberships
                assert commits.changed(), "an accepted request committed nothing"

        check()
    check_db(run)


@pytest.mark.slow
def test_event_bodies_succeed_or_name_the_field(run: Run) -> None:
    anonymous = "ANON-SESSION"
    assert run("session", "update", anonymous, "--anonymous").exit_code == 0
    with watching(run) as commits:

        @FAST
        @given(data=st.data())
        def check(data: Any) -> None:
            n = next(_numbers)
            body = data.draw(event_bodies(n, anonymous))
            result = run("event", "track", "--payload", "-", "--json", input=text_of(body))
            response = assert_outcome(result, body.faults, body.not_found)
            if response is None:
                check_nothing_written(run, commits, None, profile_ids_in(body.value, n))
            else:
                ids = profile_ids_in(body.value, n)
                shown = response.get("customerProfile") or {}
                # An event without a customer is anonymous: no profile is made up for it.
                assert shown.get("integrationId", "").startswith(f"P{n}") if ids else not shown
                assert commits.changed(), "an accepted request committed nothing"

        check()
    check_db(run)


# --- replay lines --------------------------------------------------------------------------------


@dataclass
class Line:
    text: bytes
    faults: list[str]
    writes: bool  # applied for real (not a dry run)
    profile: str | None = None
    session: str | None = None


@st.composite
def replay_lines(draw: Any, n: int, anonymous_session: str) -> Line:
    kind = draw(st.sampled_from(["profile", "session", "event"]))
    line = Body(clean=draw(st.booleans()))  # the line's own pieces (method, query, now)
    faults: list[str] = []
    record: dict[str, Any] = {}
    profile = session = None
    if kind == "profile":
        body = draw(profile_bodies(n))
        profile = f"P{n}-{draw(id_text)}"
        record["path"] = "/v2/customer_profiles/" + quote(profile, safe="")
    elif kind == "session":
        body = draw(session_bodies(n))
        session = f"S{n}-{draw(id_text)}"
        record["path"] = "/v2/customer_sessions/" + quote(session, safe="")
        ids = profile_ids_in(body.value, n)
        profile = ids[0] if ids else None
    else:
        body = draw(event_bodies(n, anonymous_session))
        record["path"] = "/v2/events"
        ids = profile_ids_in(body.value, n)
        profile = ids[0] if ids else None
    renamed = {"payload stdin": "invalid JSON", "event TYPE": "type: required"}
    faults += [renamed.get(f, f) for f in body.faults]
    if body.not_found:
        faults.append("no customer session")
    record["body"] = body.value
    method = choose(draw, line, ["omit", "right", "lower"], ["wrong"])
    right = "POST" if kind == "event" else "PUT"
    if method == "right":
        record["method"] = right
    elif method == "lower":
        record["method"] = right.lower()
    elif method == "wrong":
        record["method"] = "GET"
        faults.append("method")
    dry = False
    query = choose(draw, line, ["omit", "rules", "dry", "in-path"], ["bad-flag", "not-object"])
    if query == "rules":
        record["query"] = {"runRuleEngine": draw(st.sampled_from(["true", "false", True]))}
    elif query == "dry":
        record["query"] = {"dry": "true"}
        dry = True
    elif query == "in-path":
        record["path"] += "?runRuleEngine=true&dry=false"
    elif query == "bad-flag":
        record["query"] = {"dry": "maybe"}
        faults.append("query.dry")
    elif query == "not-object":
        record["query"] = ["dry"]
        faults.append("query")
    now = choose(draw, line, ["omit", "valid"], ["no-zone", "text", "number"])
    if now == "valid":
        record["now"] = "2031-05-01T10:00:00Z"
    elif now != "omit":
        record["now"] = {"no-zone": "2031-05-01T10:00:00", "text": "soon", "number": 5}[now]
        faults.append("now")
    whole = 99 if line.clean else draw(st.integers(0, 20))
    # Parsing the line comes first; then the path (after a query that is not an object).
    parsing = [f for f in faults if f in ("invalid JSON", "too large a number")]
    if whole == 0:
        record = {"body": {}}
        faults = ["path"]
    elif whole == 1:
        record["path"] = "/v2/coupons/X"
        faults = ["path", *parsing, *(["query"] if query == "not-object" else [])]
    text = dump(record).encode()
    if whole == 2:
        text = dump([record]).encode()
        faults = ["expected an object", *parsing]
    elif whole == 3:
        text = text[:-1]
        faults = ["invalid JSON"]
    elif whole == 4:
        text = text.replace(b"{", b'{"x": "\xff", ', 1)
        faults = ["not UTF-8"]
    return Line(text, faults, not dry and not faults, profile, session)


@pytest.mark.slow
def test_replay_lines_apply_or_fail_alone(run: Run, tmp_path: Path) -> None:
    """Each line is applied, or reported as failed (naming the line and the field) and leaves
    nothing behind; the summary is strict JSON; exit 1 exactly when a line failed."""
    anonymous = "ANON-SESSION"
    assert run("session", "update", anonymous, "--anonymous").exit_code == 0

    @settings(FAST, max_examples=examples(50))
    @given(data=st.data(), count=st.integers(1, 4))
    def check(data: Any, count: int) -> None:
        n = next(_numbers)
        # A unique first line: a file replayed before (same bytes) would be skipped, by design.
        first = Line(dump({"path": f"/v2/customer_profiles/R{n}"}).encode(), [], True, f"R{n}")
        lines = [first, *(data.draw(replay_lines(next(_numbers), anonymous)) for _ in range(count))]
        path = tmp_path / f"replay-{n}.jsonl"
        path.write_bytes(b"\n".join(line.text for line in lines) + b"\n")
        result = run("replay", str(path), "--json")
        assert "Traceback" not in result.stderr, result
        assert "internal error" not in result.stderr, result
        summary = strict_loads(result.stdout)
        failing = {i + 1: line for i, line in enumerate(lines) if line.faults}
        assert result.exit_code == (1 if failing else 0), result
        shown = [(line.text[:300], line.faults) for line in lines]
        assert summary["failed"] == len(failing), (summary, shown)
        assert summary["applied"] == len(lines) - len(failing)
        assert summary["skipped"] == 0
        for failure in summary["failures"]:
            line = failing[failure["line"]]
            assert failure["error"].startswith(f"line {failure['line']}: ")
            assert any(f in failure["error"] for f in line.faults), (failure, shown)
            assert "internal error" not in failure["error"], (failure, shown)
        for i, line in enumerate(lines):
            if line.faults or not line.writes:
                if line.profile:
                    assert run("profile", "show", "--", line.profile).exit_code == 1, line
                if line.session:
                    assert run("session", "show", "--", line.session).exit_code == 1, line
            else:
                if line.profile:
                    assert run("profile", "show", "--", line.profile).exit_code == 0, (i, line)
                if line.session:
                    assert run("session", "show", "--", line.session).exit_code == 0, (i, line)

    check()
    check_db(run)


# --- numbers and text refcamp cannot store or print ---------------------------------------------


def profile_body(value: str) -> tuple[list[str], str]:
    return ["profile", "update", "P1"], '{"attributes": {"x": ' + value + "}}"


def session_body(value: str) -> tuple[list[str], str]:
    return ["session", "update", "S1"], (
        '{"customerSession": {"profileId": "P1", "attributes": {"x": ' + value + "}}}"
    )


def event_body(value: str) -> tuple[list[str], str]:
    body = '{"type": "t", "profileId": "P1", "attributes": {"x": ' + value + "}}"
    return ["event", "track"], body


def price_body(value: str) -> tuple[list[str], str]:
    item = '{"sku": "a", "quantity": 1, "price": ' + value + "}"
    return ["session", "update", "S1"], (
        '{"customerSession": {"profileId": "P1", "cartItems": [' + item + "]}}"
    )


def quantity_body(value: str) -> tuple[list[str], str]:
    item = '{"sku": "a", "price": 1, "quantity": ' + value + "}"
    return ["session", "update", "S1"], (
        '{"customerSession": {"profileId": "P1", "cartItems": [' + item + "]}}"
    )


def cost_body(value: str) -> tuple[list[str], str]:
    return ["session", "update", "S1"], (
        '{"customerSession": {"profileId": "P1", "additionalCosts": {"s": {"price": '
        + value
        + "}}}}"
    )


BODIES = [profile_body, session_body, event_body, price_body, quantity_body, cost_body]


@pytest.mark.parametrize("make", BODIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", TOO_LARGE[::2] + TOO_LARGE[-1:], ids=lambda v: v[:12])
def test_numbers_refcamp_cannot_keep_are_refused(run: Run, make: Any, value: str) -> None:
    """1e400 is Infinity to Python, 10**400 no float at all: either would print as no JSON or
    crash; every JSON number beyond 1e15 is bad input, wherever it is."""
    args, body = make(value)
    result = run(*args, "--payload", "-", "--json", input=body)
    assert "too large a number" in error_line(result, 2)
    assert run("profile", "show", "P1").exit_code == 1
    assert run("session", "show", "S1").exit_code == 1


@pytest.mark.parametrize(
    ("make", "value"),
    [
        *((profile_body, v) for v in ("1000000000000000", "1e15", "-1e15", "-999999999999999")),
        *((price_body, v) for v in ("1000000000000000", "1e15", "0.000001")),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_numbers_up_to_1e15_are_kept(run: Run, make: Any, value: str) -> None:
    args, body = make(value)
    result = run(*args, "--payload", "-", "--json", input=body)
    assert result.exit_code == 0, result
    strict_loads(result.stdout)


def test_negative_integer_at_the_limit_is_kept(run: Run) -> None:
    args, body = profile_body("-1000000000000000")
    result = run(*args, "--payload", "-", "--json", input=body)
    assert result.exit_code == 0, result
    assert strict_loads(result.stdout)["customerProfile"]["attributes"] == {"x": -(10**15)}


HUGE_INT = "1" + "0" * 400


@pytest.mark.parametrize("spec", [f"sku=a,price={HUGE_INT}", f"sku=a,quantity={HUGE_INT}"])
def test_item_option_with_a_huge_integer_exits_2(run: Run, spec: str) -> None:
    result = run("session", "update", "S1", "--profile", "P1", "--item", spec)
    error_line(result, 2)
    assert run("session", "show", "S1").exit_code == 1


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (["profile", "update", "P1"], '{"attributes": {"x": "a\\ud800b"}}'),
        (["profile", "update", "P1"], '{"attributes": {"\\uDC00": 1}}'),
        (["session", "update", "S1"], '{"customerSession": {"profileId": "P\\udcff1"}}'),
        (["event", "track"], '{"type": "t", "profileId": "P1", "attributes": {"x": "\\udfff"}}'),
    ],
    ids=["profile-value", "profile-key", "session-profile-id", "event"],
)
def test_lone_surrogate_in_a_payload_is_refused(run: Run, args: list[str], body: str) -> None:
    """A \\ud800 escape is valid JSON syntax but no Unicode text; SQLite cannot store it."""
    result = run(*args, "--payload", "-", "--json", input=body)
    assert "surrogate" in error_line(result, 2)
    assert run("profile", "show", "P1").exit_code == 1


def test_paired_surrogate_escapes_are_text(run: Run) -> None:
    body = '{"attributes": {"x": "\\ud83d\\ude42"}}'  # the escape of 🙂
    result = run("profile", "update", "P1", "--payload", "-", "--json", input=body)
    assert result.exit_code == 0, result
    assert strict_loads(result.stdout)["customerProfile"]["attributes"] == {"x": "🙂"}


@pytest.mark.parametrize(
    "bad",
    [
        '{"path": "/v2/customer_profiles/Q\\ud800"}',
        '{"path": "/v2/customer_sessions/S9", "body": {"customerSession": {"cartItems": '
        '[{"sku": "a", "quantity": 1, "price": ' + HUGE_INT + "}]}}}",
        '{"path": "/v2/customer_profiles/P", "body": {"attributes": {"x": 1e400}}}',
        '{"path": "http://[::1/v2/customer_profiles/P"}',
    ],
    ids=["surrogate", "huge-int", "overflow", "bad-url"],
)
def test_one_bad_replay_line_does_not_stop_the_others(run: Run, tmp_path: Path, bad: str) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_text(
        '{"path": "/v2/customer_profiles/A"}\n' + bad + '\n{"path": "/v2/customer_profiles/B"}\n'
    )
    result = run("replay", str(path), "--json")
    assert "internal error" not in result.stderr + result.stdout, result
    assert result.exit_code == 1, result
    summary = strict_loads(result.stdout)
    assert (summary["applied"], summary["failed"]) == (2, 1)
    assert [f["line"] for f in summary["failures"]] == [2]
    assert run("profile", "show", "A").exit_code == 0
    assert run("profile", "show", "B").exit_code == 0
    assert run("profile", "show", "P").exit_code == 1
    check_db(run)


def refcamp_process(
    args: list[bytes | str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "refcamp", *args],
        env={**base, **(env or {})},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        [b"profile", b"update", b"ab\xffcd"],
        [b"session", b"update", b"S\xff", b"--profile", b"P"],
        [b"session", b"update", b"S", b"--profile", b"P\xff"],
        [
            b"referral",
            b"create",
            b"--campaign",
            b"medium-referral",
            b"--advocate",
            b"A",
            b"--code",
            b"C\xff",
        ],
        [b"profile", b"update", b"A", b"--attr", b"k=\xff"],
        [b"profile", b"update", b"A", b"--audience-add", b"\xff"],
    ],
    ids=["profile", "session", "--profile", "--code", "--attr", "--audience-add"],
)
@pytest.mark.stateless
def test_id_argument_that_is_not_utf8_exits_2(isolated: Path, args: list[bytes]) -> None:
    """Bytes that are not UTF-8 on the command line reach Python as lone surrogates."""
    proc = refcamp_process(args)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.startswith("refcamp: error:") and len(err.splitlines()) == 1, err
    assert "not valid UTF-8" in err


@pytest.mark.parametrize(
    "args",
    [
        [b"session", b"update", b"S", b"--profile", b"P", b"--item", b"sku=\xff"],
        [b"session", b"update", b"S", b"--profile", b"P", b"--item", b"sku=a,name=\xff"],
        [
            b"loyalty",
            b"add",
            b"P",
            b"--program",
            b"sample-wallet",
            b"--points",
            b"5",
            b"--reason",
            b"r\xff",
        ],
        [b"profile", b"show", b"P\xff"],
        [b"session", b"show", b"S\xff"],
        [b"referral", b"list", b"--advocate", b"P\xff"],
        [b"coupon", b"reserve", b"C\xff", b"--profile", b"P"],
    ],
    ids=[
        "item-sku",
        "item-name",
        "reason",
        "profile-show",
        "session-show",
        "referral-list",
        "coupon-reserve",
    ],
)
@pytest.mark.stateless
def test_other_text_that_is_not_utf8_is_no_internal_error(
    isolated: Path, args: list[bytes]
) -> None:
    proc = refcamp_process(args)
    err = proc.stderr.decode()
    assert "internal error" not in err, err
    assert proc.returncode in (1, 2), err
    assert err.startswith("refcamp: error:") and len(err.splitlines()) == 1, err


# --- campaign files ------------------------------------------------------------------------------

VALID_CONDITIONS = [
    {"event": "talon_session_closed"},
    {"event": "talon_profile_created"},
    {"event": "review_posted"},
    {"referral": "valid"},
    {"coupon": "valid"},
    {"attribute": "session.total", "op": ">=", "value": 50},
    {"attribute": "profile.attributes.tier", "op": "in", "value": ["gold", "platinum"]},
    {"attribute": "session.attributes.channel", "op": "starts_with", "value": "app"},
    {"attribute": "profile.attributes.email", "op": "exists"},
    {"any_item": [{"attribute": "item.category", "op": "==", "value": "Accessories"}]},
    {"audience": "vip"},
    {"not": {"attribute": "profile.attributes.blocked", "op": "==", "value": True}},
    {"any": [{"audience": "vip"}, {"attribute": "session.total", "op": ">", "value": 100}]},
    {"all": [{"event": "talon_session_closed"}, {"referral": "valid"}]},
]
VALID_EFFECTS = [
    {"effect": "create_referral_code"},
    {"effect": "create_referral_code", "usage_limit": 5, "valid_for": "30D"},
    {"effect": "add_loyalty_points", "program": "PROGRAM", "points": 100, "reason": "Bonus"},
    {"effect": "add_loyalty_points", "program": "PROGRAM", "recipient": "advocate", "points": 1},
    {"effect": "add_loyalty_points", "program": "PROGRAM", "points_per": 1, "of": "session.total"},
    {"effect": "deduct_loyalty_points", "program": "PROGRAM", "points": 20, "reason": "Gift"},
    {"effect": "set_discount", "name": "10% off", "percent": 10},
    {"effect": "set_discount", "name": "5 off", "amount": 5},
    {"effect": "create_coupon", "valid_for": "14D"},
    {"effect": "reserve_coupon", "code": "VIP-GIFT"},
    {"effect": "show_notification", "type": "info", "title": "Hi", "body": "Welcome"},
    {"effect": "update_attribute", "path": "profile.attributes.tier", "value": "gold"},
    {"effect": "add_to_audience", "audience": "vip"},
    {"effect": "remove_from_audience", "audience": "vip"},
    {"effect": "custom_effect", "name": "send_gift", "payload": {"sku": "GIFT-1"}},
]
# (name, mutation): each makes the file invalid; rule breaks must be reported with the rule.
RULE_BREAKS = [
    ("unknown-rule-key", lambda r: r.update(priority=3)),
    ("unknown-effect", lambda r: r["then"].append({"effect": "set_discont", "value": 10})),
    ("unknown-condition", lambda r: r["when"].append({"evnt": "talon_session_closed"})),
    ("zero-points", lambda r: r["then"].append(
        {"effect": "add_loyalty_points", "program": "PROGRAM", "points": 0})),
    ("negative-points", lambda r: r["then"].append(
        {"effect": "add_loyalty_points", "program": "PROGRAM", "points": -5})),
    ("points-text", lambda r: r["then"].append(
        {"effect": "add_loyalty_points", "program": "PROGRAM", "points": "100"})),
    ("bad-duration", lambda r: r["then"].append(
        {"effect": "create_referral_code", "valid_for": "30 days"})),
    ("zero-duration", lambda r: r["then"].append({"effect": "create_coupon", "valid_for": "0D"})),
    ("unknown-program", lambda r: r["then"].append(
        {"effect": "add_loyalty_points", "program": "nope-wallet", "points": 1})),
    ("no-effects", lambda r: r.update(then=[])),
    ("then-not-list", lambda r: r.update(then={"effect": "create_coupon"})),
    ("name-number", lambda r: r.update(name=5)),
    ("op-needs-number", lambda r: r["when"].append(
        {"attribute": "session.total", "op": ">", "value": "fifty"})),
]  # fmt: skip
CAMPAIGN_BREAKS = [
    ("unknown-key", lambda c: c.update(colour="red")),
    ("bad-id", lambda c: c.update(id="Bad_ID")),
    ("id-number", lambda c: c.update(id=7)),
    ("state", lambda c: c.update(state="enable")),
    ("feature", lambda c: c.update(features=["referals"])),
    ("priority-text", lambda c: c.update(priority="high")),
    ("no-zone", lambda c: c.update(start=datetime(2026, 1, 1))),
    ("pattern-without-hash", lambda c: c.update(referrals={"pattern": "FIXED"})),
    ("usage-negative", lambda c: c.update(coupons={"usage_limit": -1})),
    ("bad-valid-for", lambda c: c.update(coupons={"valid_for": "forever"})),
    ("limit-zero", lambda c: c.update(limits=[{"action": "redeemReferral", "limit": 0}])),
    ("limit-action", lambda c: c.update(limits=[{"action": "redeem", "limit": 1}])),
    ("limit-per", lambda c: c.update(
        limits=[{"action": "addLoyaltyPoints", "limit": 1, "per": "code"}])),
]  # fmt: skip
PROGRAM_BREAKS = [
    ("program-bad-id", lambda p: p.update(id="Sample Wallet")),
    ("program-pending", lambda p: p.update(pending="soon")),
    ("program-validity", lambda p: p.update(validity="-1D")),
    ("program-unknown-key", lambda p: p.update(points=5)),
]


@dataclass
class CampaignFile:
    name: str
    data: bytes
    broken: bool
    rule: int | None = None  # 1-based rule number a rule-level break is in


@st.composite
def campaign_dirs(draw: Any) -> list[CampaignFile]:
    count = draw(st.integers(1, 3))
    clean = draw(st.integers(0, 2)) == 0  # a third of the directories: only valid files
    files: list[CampaignFile] = []
    ids = draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), min_size=count,
                        max_size=count, unique=True))  # fmt: skip
    for index, campaign_id in enumerate(ids):
        program = f"{campaign_id}-wallet"
        campaign: dict[str, Any] = {
            "id": campaign_id,
            "name": draw(id_text.filter(str.strip)),
            "state": draw(st.sampled_from(["enabled", "disabled", "archived"])),
            "features": draw(st.lists(st.sampled_from(["referrals", "loyalty", "coupons"]))),
            "priority": draw(st.integers(-5, 5)),
        }
        if draw(st.booleans()):
            campaign["referrals"] = {"pattern": "REF-########", "usage_limit": 0}
        if draw(st.booleans()):
            campaign["limits"] = [{"action": "redeemReferral", "limit": 1, "per": "profile"}]
        rules = []
        for r in range(draw(st.integers(0, 3))):
            when = draw(st.lists(st.sampled_from(VALID_CONDITIONS), max_size=3))
            then = draw(st.lists(st.sampled_from(VALID_EFFECTS), min_size=1, max_size=3))
            rules.append({"name": f"Rule {r}", "when": list(when), "then": list(then)})
        data: dict[str, Any] = {"campaign": campaign, "rules": rules}
        data["loyalty_program"] = [{"id": program, "name": "Wallet", "validity": "1Y"}]
        breaking = (
            "none"
            if clean
            else draw(st.sampled_from(["none", "rule", "campaign", "program", "top"]))
        )
        rule_number = None
        if breaking == "rule" and rules:
            at = draw(st.integers(0, len(rules) - 1))
            _, mutate = draw(st.sampled_from(RULE_BREAKS))
            mutate(rules[at])
            rule_number = at + 1
        elif breaking == "campaign":
            _, mutate = draw(st.sampled_from(CAMPAIGN_BREAKS))
            mutate(campaign)
        elif breaking == "program":
            _, mutate = draw(st.sampled_from(PROGRAM_BREAKS))
            mutate(data["loyalty_program"][0])
        elif breaking == "top":
            data["rulez"] = []
        else:
            breaking = "none"
        text = tomli_w.dumps(data).replace('"PROGRAM"', json.dumps(program))
        raw = text.encode()
        damage = (
            "none"
            if clean
            else draw(st.sampled_from(["none"] * 6 + ["syntax", "bytes", "duplicate"]))
        )
        if damage == "syntax":
            raw = raw.replace(b"[campaign]", b"[campaign", 1)
        elif damage == "bytes":
            raw = raw.replace(b"name = ", b"name = \xff", 1) if b"name = " in raw else b"\xff"
        elif damage == "duplicate" and index > 0 and not files[0].broken:
            raw = raw.replace(f'id = "{campaign_id}"'.encode(), f'id = "{ids[0]}"'.encode(), 1)
        else:
            damage = "none"
        if damage in ("syntax", "bytes"):
            rule_number = None  # a file that cannot be read has no rules to name
        files.append(
            CampaignFile(
                f"c{index}-{campaign_id}.toml",
                raw,
                breaking != "none" or damage != "none",
                rule_number,
            )
        )
    return files


@pytest.mark.slow
@FAST
@given(files=campaign_dirs())
@pytest.mark.stateless
def test_campaign_directories_validate_or_name_file_and_rule(
    run: Run, tmp_path: Path, files: list[CampaignFile]
) -> None:
    n = next(_numbers)
    folder = tmp_path / f"campaigns-{n}"
    folder.mkdir()
    for f in files:
        (folder / f.name).write_bytes(f.data)
    result = run("campaign", "validate", str(folder))
    assert "Traceback" not in result.stderr + result.stdout, result
    assert "internal error" not in result.stderr, result
    broken = [f for f in files if f.broken]
    event("broken" if broken else "valid")
    if not broken:
        assert result.exit_code == 0, (result, [f.data.decode() for f in files])
        assert "all valid" in result.stdout
    else:
        assert result.exit_code == 2, (result, [f.data for f in files])
        lines = result.stderr.splitlines()
        assert lines[0].startswith("refcamp: error: invalid campaigns"), result
        problems = [line.strip() for line in lines[1:]]
        assert problems, result
        names = [f.name for f in files]
        for problem in problems:  # every problem names its file...
            assert any(f"{folder / name}:" in problem for name in names), problem
        for f in broken:  # ...every broken file is named...
            assert any(f"{folder / f.name}:" in p for p in problems), (f.name, problems)
            if f.rule is not None:  # ...with the rule, where the break is in one
                assert any(f"rule {f.rule}" in p for p in problems if f.name in p), problems

    # A request on the directory: exit 2 before the state file is created, or a normal answer.
    db = tmp_path / f"state-{n}.db"
    request = run("--db", str(db), "--campaigns", str(folder), "profile", "update", "X", "--json")
    assert "Traceback" not in request.stderr and "internal error" not in request.stderr, request
    if broken:
        assert request.exit_code == 2, request
        assert request.stderr.startswith("refcamp: error: invalid campaigns"), request
        assert not db.exists()
    else:
        assert request.exit_code == 0, request
        strict_loads(request.stdout)


@pytest.mark.stateless
def test_duplicate_ids_across_two_files_name_both(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "dups"
    folder.mkdir()
    one = {"campaign": {"id": "same"}, "loyalty_program": [{"id": "wallet"}]}
    (folder / "a.toml").write_text(tomli_w.dumps(one))
    (folder / "b.toml").write_text(tomli_w.dumps(one))
    result = run("campaign", "validate", str(folder))
    assert result.exit_code == 2, result
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert len(problems) == 2, problems
    for problem in problems:
        assert problem.startswith(f"{folder / 'b.toml'}:"), problem
        assert "duplicate id" in problem and str(folder / "a.toml") in problem
    db = tmp_path / "state.db"
    db.unlink(missing_ok=True)
    assert run("--campaigns", str(folder), "profile", "update", "X").exit_code == 2
    assert not db.exists()


def test_invalid_campaigns_leave_an_existing_state_file_alone(
    run: Run, tmp_path: Path, campaigns_dir: Path
) -> None:
    assert run("profile", "update", "KNOWN").exit_code == 0
    where = os.environ["REFCAMP_DB"]
    db = tmp_path / "state.db"
    before = db.read_bytes() if db.exists() else state_rows(where)  # the file, or every row
    (campaigns_dir / "broken.toml").write_bytes(b'[campaign]\nid = "\xff"\n')
    result = run("profile", "update", "X")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result
    assert "broken.toml" in lines[1] and "UTF-8" in lines[1]
    assert (db.read_bytes() if db.exists() else state_rows(where)) == before
    (campaigns_dir / "broken.toml").unlink()
    assert run("profile", "show", "X").exit_code == 1


# --- identifiers ---------------------------------------------------------------------------------

ids_any = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf")), min_size=1
).filter(VISIBLE.search)


def fresh_db(tmp_path: Path) -> str:
    return str(tmp_path / f"ids-{next(_numbers)}.db")


def round_trip(run: Run, db: str, ident: str, code: str | None = None) -> None:
    """`ident` as profile, session, referral code, coupon code, audience and attribute."""
    code = ident if code is None else code
    body = json.dumps({"attributes": {ident: ident}, "audiencesChanges": {"adds": [ident]}})
    g = ("--db", db)
    made = run(*g, "profile", "update", "--json", "--payload", "-", "--", ident, input=body)
    assert made.exit_code == 0, made
    profile = strict_loads(made.stdout)["customerProfile"]
    assert profile["integrationId"] == ident
    assert profile["attributes"] == {ident: ident}
    assert profile["audienceMemberships"] == [
        {"id": talon_id(run, "audience", ident, *g), "name": ident}
    ]

    referral = run(*g, "referral", "create", "--campaign", "medium-referral", "--advocate", ident,
                   "--code", code, "--json")  # fmt: skip
    assert referral.exit_code == 0, referral
    assert strict_loads(referral.stdout)["code"] == code
    assert strict_loads(referral.stdout)["advocateProfileIntegrationId"] == ident
    coupon = run(*g, "coupon", "create", "--campaign", "spring-coupons", "--code", code,
                 "--recipient", ident, "--json")  # fmt: skip
    assert coupon.exit_code == 0, coupon
    assert strict_loads(coupon.stdout)[0]["value"] == code

    session_body = json.dumps({"customerSession": {"attributes": {ident: ident}}})
    session = run(*g, "session", "update", "--profile", ident, "--referral", code, "--coupon", code,
                  "--json", "--payload", "-", "--", ident, input=session_body)  # fmt: skip
    assert session.exit_code == 0, session
    data = strict_loads(session.stdout)["customerSession"]
    assert data["integrationId"] == ident and data["profileId"] == ident
    assert data["referralCode"] == code and data["couponCodes"] == [code]
    assert data["attributes"] == {ident: ident}

    shown = strict_loads(run(*g, "session", "show", "--json", "--", ident).stdout)
    shown = shown["customerSession"]
    assert (shown["integrationId"], shown["profileId"], shown["referralCode"]) == (
        ident,
        ident,
        code,
    )
    assert shown["couponCodes"] == [code] and shown["attributes"] == {ident: ident}
    shown = strict_loads(run(*g, "profile", "show", "--json", "--", ident).stdout)
    assert shown["profile"]["integrationId"] == ident
    assert shown["profile"]["attributes"] == {ident: ident}
    assert [r["code"] for r in shown["referrals"]] == [code]
    shown = strict_loads(run(*g, "referral", "show", "--json", "--", code).stdout)
    assert shown["code"] == code
    shown = strict_loads(run(*g, "coupon", "show", "--json", "--", code).stdout)
    assert (shown["value"], shown["recipientIntegrationId"]) == (code, ident)
    listed = strict_loads(run(*g, "referral", "list", "--advocate", ident, "--json").stdout)
    assert [r["code"] for r in listed] == [code]


@pytest.mark.slow
@FEW
@given(ident=ids_any.filter(lambda s: len(s) <= 1000))
@pytest.mark.stateless
def test_any_identifier_without_control_characters_round_trips(
    run: Run, tmp_path: Path, ident: str
) -> None:
    round_trip(run, fresh_db(tmp_path), ident)


@pytest.mark.parametrize("length", [1, 1000])
@pytest.mark.stateless
def test_identifiers_at_the_length_limits_round_trip(run: Run, tmp_path: Path, length: int) -> None:
    round_trip(run, fresh_db(tmp_path), ("Zoë東京🙂" * 200)[:length])


@pytest.mark.stateless
def test_unicode_identifier_round_trips_everywhere(run: Run, tmp_path: Path) -> None:
    db = fresh_db(tmp_path)
    round_trip(run, db, UNICODE_ID)
    g = ("--db", db)
    # --attr and --audience-add on the command line keep the text exactly too.
    other = UNICODE_ID + " 2"
    made = run(*g, "profile", "update", other, "--attr", f"{UNICODE_ID}={UNICODE_ID}",
               "--audience-add", UNICODE_ID, "--json")  # fmt: skip
    profile = strict_loads(made.stdout)["customerProfile"]
    assert profile["attributes"] == {UNICODE_ID: UNICODE_ID}
    audience = talon_id(run, "audience", UNICODE_ID, *g)
    assert profile["audienceMemberships"] == [{"id": audience, "name": UNICODE_ID}]
    # The code works: with the campaign active, a friend closing with it is rewarded.
    assert run(*g, "campaign", "activate", "medium-referral").exit_code == 0
    closed = run(*g, "session", "close", "friend session", "--profile", "Friend ë",
                 "--referral", UNICODE_ID, "--json")  # fmt: skip
    effects = [e["effectType"] for e in strict_loads(closed.stdout)["effects"]]
    assert effects == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    referral = strict_loads(run(*g, "referral", "show", UNICODE_ID, "--json").stdout)
    assert referral["usageCounter"] == 1
    balance = strict_loads(run(*g, "loyalty", "balance", UNICODE_ID, "--json").stdout)
    assert program_of(balance, "sample-wallet")["ledger"]["currentBalance"] == 100
    # Text output shows it as it is.
    assert UNICODE_ID in run(*g, "profile", "show", UNICODE_ID).stdout
    assert UNICODE_ID in run(*g, "referral", "list").stdout


def test_unicode_identifier_in_replay_paths(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "unicode.jsonl"
    lines = [
        {"path": "/v2/customer_profiles/" + quote(UNICODE_ID, safe="")},
        {"path": f"/v2/customer_sessions/{UNICODE_ID}",
         "body": {"customerSession": {"profileId": UNICODE_ID, "state": "closed"}}},
        {"path": "/v2/events", "method": "POST",
         "body": {"type": "review_posted", "profileId": UNICODE_ID, "sessionId": UNICODE_ID}},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n")
    result = run("replay", str(path), "--json")
    assert result.exit_code == 0, result
    assert strict_loads(result.stdout)["applied"] == 3
    shown = strict_loads(run("session", "show", UNICODE_ID, "--json").stdout)["customerSession"]
    assert (shown["profileId"], shown["state"]) == (UNICODE_ID, "closed")
    shown = strict_loads(run("profile", "show", UNICODE_ID, "--json").stdout)
    assert shown["profile"]["closedSessions"] == 1


def test_profile_show_json_lists_audiences(run: Run) -> None:
    made = run("profile", "update", UNICODE_ID, "--audience-add", UNICODE_ID, "--json")
    audience = {"id": talon_id(run, "audience", UNICODE_ID), "name": UNICODE_ID}
    assert strict_loads(made.stdout)["customerProfile"]["audienceMemberships"] == [audience]
    shown = strict_loads(run("profile", "show", UNICODE_ID, "--json").stdout)
    assert shown["profile"]["audienceMemberships"] == [audience]


@pytest.mark.parametrize(
    "ident",
    ["", "x" * 1001, "a\x00b", "tab\there", "new\nline", "del\x7f", "c1\x85control", "\x9f"],
    ids=["empty", "1001", "nul", "tab", "newline", "del", "nel", "c1"],
)
def test_identifiers_out_of_bounds_exit_2_naming_the_option(run: Run, ident: str) -> None:
    commands = [
        (["profile", "update", "--", ident], "profile id"),
        (["session", "update", "--profile", "P", "--", ident], "session id"),
        (["referral", "create", "--campaign", "medium-referral", "--advocate", "P", "--code",
          ident], "--code"),
        (["coupon", "create", "--campaign", "spring-coupons", "--code", ident], "--code"),
        (["profile", "update", "P", "--audience-add", ident], "audience"),
        (["session", "update", "S", "--profile", "P", "--coupon", ident], "--coupon"),
    ]  # fmt: skip
    for args, word in commands:
        result = run(*args)
        assert word in error_line(result, 2), (args, result)
    assert run("profile", "show", "P").exit_code == 1
    assert run("session", "show", "S").exit_code == 1
    assert strict_loads(run("referral", "list", "--json").stdout) == []
    assert strict_loads(run("coupon", "list", "--json").stdout) == []


# --- a code space that runs out ------------------------------------------------------------------

TINY = """\
[campaign]
id = "tiny"
state = "enabled"

[campaign.referrals]
pattern = "C-##"
characters = "AB"

[campaign.coupons]
pattern = "C-##"
characters = "AB"

[[rules]]
name = "Code for every new customer"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "create_referral_code" }]
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tiny-campaigns"
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY)
    monkeypatch.setenv("REFCAMP_CAMPAIGNS", str(folder))
    return folder


@pytest.mark.stateless
def test_tiny_code_space_is_a_warning(run: Run, tiny: Path) -> None:
    result = run("campaign", "validate")
    assert result.exit_code == 0, result
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result  # referrals and coupons
    for warning in warnings:
        assert "tiny.toml" in warning and "makes only 4 codes" in warning
    data = strict_loads(run("campaign", "validate", "--json").stdout)
    assert data["valid"] is True and len(data["warnings"]) == 2


def test_registration_beyond_the_code_space_fails_cleanly(run: Run, tiny: Path) -> None:
    codes = set()
    for i in range(4):
        made = run("profile", "update", f"P{i}", "-q")
        assert made.exit_code == 0, made
        codes.add(made.stdout.strip())
    assert codes == {"C-AA", "C-AB", "C-BA", "C-BB"}
    result = run("profile", "update", "P4", "--json")
    message = error_line(result, 1)
    assert "could not find a free code" in message and "C-##" in message
    assert run("profile", "show", "P4").exit_code == 1  # the registration is not half done
    assert len(strict_loads(run("referral", "list", "--json").stdout)) == 4
    check_db(run)


def test_coupon_count_beyond_the_code_space_fails_cleanly(run: Run, tiny: Path) -> None:
    result = run("coupon", "create", "--campaign", "tiny", "--count", "5")
    assert "makes only" in error_line(result, 2) or "only 4" in result.stderr
    assert strict_loads(run("coupon", "list", "--json").stdout) == []
    made = run("coupon", "create", "--campaign", "tiny", "--count", "3", "-q")
    assert made.exit_code == 0, made
    result = run("coupon", "create", "--campaign", "tiny", "--count", "2")
    assert "could not find a free code" in error_line(result, 1)
    assert len(strict_loads(run("coupon", "list", "--json").stdout)) == 3  # all or nothing
    assert run("coupon", "create", "--campaign", "tiny", "-q").exit_code == 0
    result = run("coupon", "create", "--campaign", "tiny")
    assert "could not find a free code" in error_line(result, 1)
    assert len(strict_loads(run("coupon", "list", "--json").stdout)) == 4


# --- the state file ------------------------------------------------------------------------------


def make_refcamp_db(path: Path) -> None:
    proc = refcamp_process(["--db", str(path), "profile", "update", "P0", "-q"])
    assert proc.returncode == 0, proc.stderr


def not_sqlite(folder: Path) -> Path:
    path = folder / "state.db"
    path.write_bytes(b"this is not a database\n" * 50)
    return path


def someone_elses(folder: Path) -> Path:
    path = folder / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.commit()
    conn.close()
    return path


def someone_elses_wal(folder: Path) -> Path:
    path = folder / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    return path


def newer(folder: Path) -> Path:
    path = folder / "state.db"
    make_refcamp_db(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()
    return path


def read_only_file(folder: Path) -> Path:
    path = folder / "state.db"
    make_refcamp_db(path)
    path.chmod(0o444)
    return path


def read_only_folder(folder: Path) -> Path:
    path = folder / "state.db"
    make_refcamp_db(path)
    folder.chmod(0o555)
    return path


def directory(folder: Path) -> Path:
    path = folder / "state.db"
    path.mkdir()
    (path / "inside").write_text("keep me")
    return path


STATE_FILES = {
    "not-sqlite": (not_sqlite, "not a SQLite database"),
    "someone-elses": (someone_elses, "not refcamp's"),
    "someone-elses-wal": (someone_elses_wal, "not refcamp's"),
    "newer": (newer, "newer refcamp"),
    "read-only-file": (read_only_file, "read-only"),
    "read-only-folder": (read_only_folder, "folder of state file"),
    "directory": (directory, "is a directory"),
}


def snapshot(folder: Path) -> dict[str, Any]:
    """Every file under the folder with its bytes (a directory as its listing)."""
    found: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        found[str(path.relative_to(folder))] = "dir" if path.is_dir() else path.read_bytes()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(STATE_FILES))
@pytest.mark.stateless
def test_unusable_state_file_is_one_line_and_untouched(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    make, words = STATE_FILES[kind]
    try:
        path = make(folder)
        before = snapshot(folder)
        mode = path.stat().st_mode
        commands = [
            ["profile", "update", "NEW"],
            ["referral", "list", "--json"],
            ["session", "close", "--profile", "F"],
        ]
        for args in commands:
            proc = refcamp_process(["--db", str(path), *args])
            err = proc.stderr.decode()
            assert proc.returncode == 2, (args, err)
            assert proc.stdout == b"", (args, proc.stdout)
            assert len(err.splitlines()) == 1, err
            assert err.startswith("refcamp: error:") and words in err, err
            assert str(path) in err
            assert "Traceback" not in err
            assert snapshot(folder) == before, args  # no byte changed, no -wal or -shm
            assert path.stat().st_mode == mode
    finally:
        folder.chmod(0o755)
        if (folder / "state.db").exists():
            (folder / "state.db").chmod(0o644)


@pytest.mark.parametrize("kind", ["newer", "someone-elses-wal"])
@pytest.mark.stateless
def test_refused_state_file_gets_no_wal_files_in_process(
    run: Run, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = STATE_FILES[kind][0](folder)
    result = run("--db", str(path), "profile", "update", "NEW")
    assert result.exit_code == 2, result
    assert sorted(p.name for p in folder.iterdir()) == ["state.db"]


@pytest.mark.stateless
def test_state_file_is_created_with_mode_0600(run: Run, tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask gives no one else access
    try:
        for name in ("a.db", "nested/dir/b.db"):
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)  # a state file given makes no folders
            assert run("--db", str(path), "profile", "update", "P").exit_code == 0
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


@pytest.mark.stateless
def test_no_new_state_file_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = refcamp_process(["--db", str(folder / "state.db"), "profile", "update", "P"])
        err = proc.stderr.decode()
        assert "Traceback" not in err
        assert proc.returncode == 2, err
        assert err.startswith("refcamp: error:") and len(err.splitlines()) == 1, err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# --- REFCAMP_SEED and secrets --------------------------------------------------------------------


def codes_of_a_fresh_db(run: Run, tmp_path: Path, env: dict[str, str] | None = None) -> list[str]:
    db = fresh_db(tmp_path)
    assert run("--db", db, "campaign", "activate", "medium-referral").exit_code == 0
    codes = []
    for i in range(3):
        made = run("--db", db, "profile", "update", f"P{i}", "--json", env=env)
        assert made.exit_code == 0, made
        codes += [r["code"] for r in strict_loads(made.stdout)["createdReferrals"]]
    coupons = run("--db", db, "coupon", "create", "--campaign", "spring-coupons", "--count", "3",
                  "-q", env=env)  # fmt: skip
    codes += coupons.stdout.split()
    session = run("--db", db, "session", "update", "-q", env=env)
    codes.append(session.stdout.strip())
    return codes


def test_seeded_codes_are_reproducible_and_said_to_be_predictable(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFCAMP_SEED", "42")
    first = codes_of_a_fresh_db(run, tmp_path)
    assert first == codes_of_a_fresh_db(run, tmp_path)
    db = fresh_db(tmp_path)
    assert run("--db", db, "campaign", "activate", "medium-referral").exit_code == 0
    made = run("--db", db, "profile", "update", "P", "--json")
    assert "REFCAMP_SEED is set" in made.stderr and "predictable" in made.stderr
    strict_loads(made.stdout)  # the note is on stderr, never in the JSON
    made = run("session", "update", "-q")
    assert "predictable" in made.stderr and "predictable" not in made.stdout
    monkeypatch.setenv("REFCAMP_SEED", "43")
    assert codes_of_a_fresh_db(run, tmp_path) != first


def test_unseeded_codes_differ_between_fresh_databases(run: Run, tmp_path: Path) -> None:
    assert "REFCAMP_SEED" not in os.environ
    first = codes_of_a_fresh_db(run, tmp_path)
    second = codes_of_a_fresh_db(run, tmp_path)
    assert len(first) == len(second) == 7
    assert not set(first) & set(second)
    made = run("profile", "update", "P", "--json")
    assert "predictable" not in made.stderr


# --- REFCAMP_DEBUG -------------------------------------------------------------------------------


# A refcamp whose profile reader has a bug: what an internal error looks like to a user. (Damaged
# rows are not internal errors: the store names them as a StateFileError, exit 2.)
BUGGY = """
import sys
import refcamp.store.queries as queries
def get_profile(conn, profile_id):
    raise ZeroDivisionError("a bug in refcamp")
queries.get_profile = get_profile
sys.argv = ["refcamp", *sys.argv[1:]]
import refcamp.cli
refcamp.cli.main()
"""


def buggy_process(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-c", BUGGY, *args],
        env={**base, **(env or {})},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.stateless
def test_refcamp_debug_shows_the_traceback_of_an_internal_error(tmp_path: Path) -> None:
    db = tmp_path / "debug.db"
    assert refcamp_process(["--db", str(db), "profile", "update", "P"]).returncode == 0

    quiet = buggy_process(["--db", str(db), "profile", "show", "P"])
    err = quiet.stderr.decode()
    assert quiet.returncode == 1
    assert err.startswith("refcamp: error: internal error:") and len(err.splitlines()) == 1, err
    assert "REFCAMP_DEBUG=1" in err
    assert "Traceback" not in err

    loud = buggy_process(["--db", str(db), "profile", "show", "P"], {"REFCAMP_DEBUG": "1"})
    err = loud.stderr.decode()
    assert loud.returncode != 0
    assert "Traceback (most recent call last)" in err
    assert "ZeroDivisionError: a bug in refcamp" in err

    zero = buggy_process(["--db", str(db), "profile", "show", "P"], {"REFCAMP_DEBUG": "0"})
    assert "Traceback" not in zero.stderr.decode()


@pytest.mark.stateless
def test_a_damaged_row_is_named_not_an_internal_error(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    assert refcamp_process(["--db", str(db), "profile", "update", "P"]).returncode == 0
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE profiles SET attributes = '{oops' WHERE id = 'P'")
    shown = refcamp_process(["--db", str(db), "profile", "show", "P"])
    err = shown.stderr.decode()
    assert shown.returncode == 2, err
    assert "profile 'P' in the state file is damaged" in err
    assert "Traceback" not in err


@pytest.mark.stateless
def test_refcamp_debug_raises_input_errors_instead_of_one_line(run: Run) -> None:
    # Without REFCAMP_DEBUG an input error is one line; with it, the exception is raised.
    result = run("session", "update", "S", "--item", "sku=a,price=abc")
    error_line(result, 2)
    with pytest.raises(Exception, match="price"):
        run("session", "update", "S", "--item", "sku=a,price=abc", env={"REFCAMP_DEBUG": "1"})
