"""Ids that are not valid UTF-8 (#23, item 7) never merge: decoded leniently, `U%FF` and `U%FE`
would both be `U\\ufffd`, and the second request would read or change the first one's customer.
Every door refuses them naming the field, and nothing is stored: HTTP paths and query parameters
(400 naming the parameter), JSON bodies with broken UTF-8 or lone surrogate escapes (400 with a
JSON pointer), replay lines and command-line arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, state_rows
from serving import Server, start

REPLACEMENT = "\ufffd"


@pytest.fixture
def server(run: Run, campaigns_dir: Path) -> Iterator[Server]:
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    running = start()
    yield running
    running.stop()


def assert_refused(reply: Any, status: int = 400, **source: str) -> str:
    """Talon.One's error body with this status and source; its message."""
    assert reply.status == status, reply
    assert reply.body["StatusCode"] == status, reply
    assert reply.body["errors"][0]["source"] == source, reply
    assert REPLACEMENT not in json.dumps(reply.body, ensure_ascii=False), reply
    return str(reply.body["message"])


def nothing_replaced(where: str) -> None:
    """No replacement character anywhere in the state (every table, every column)."""
    rows = state_rows(where)
    assert not any(REPLACEMENT in row for table in rows.values() for row in table), rows


@pytest.mark.slow
def test_ids_in_paths_that_are_not_utf8_are_400_naming_the_parameter(server: Server) -> None:
    where = os.environ["REFCAMP_DB"]
    request = server.request
    message = assert_refused(
        request("PUT", "/v2/customer_profiles/U%FF", {"attributes": {"x": 1}}),
        parameter="integrationId",
    )
    assert "integrationId" in message and "U%FF" in message and "UTF-8" in message
    # Nothing was stored, so U%FE finds nothing to merge with: 400 again, not U%FF's profile.
    assert_refused(
        request("GET", "/v1/customer_profiles/U%FE/inventory?profile=true"),
        parameter="integrationId",
    )
    assert_refused(
        request("GET", "/v1/loyalty_programs/sample-wallet/profile/U%FE/balances"),
        parameter="integrationId",
    )
    assert_refused(
        request("GET", "/v1/loyalty_programs/sample-wallet/profile/U%FE/transactions"),
        parameter="integrationId",
    )
    assert_refused(request("DELETE", "/v1/customer_data/U%FE"), parameter="integrationId")
    session = {"customerSession": {"profileId": "P", "state": "open"}}
    assert_refused(
        request("PUT", "/v2/customer_sessions/S%FF", session), parameter="customerSessionId"
    )
    assert_refused(request("GET", "/v2/customer_sessions/S%FE"), parameter="customerSessionId")
    assert_refused(
        request("PUT", "/v2/customer_sessions/S%C3/reopen"), parameter="customerSessionId"
    )
    assert_refused(request("POST", "/v1/coupon_reservations/C%FF", {"integrationIDs": ["P"]}),
                   parameter="couponValue")  # fmt: skip
    # A query parameter too, named (its value is not echoed as U+FFFD).
    assert_refused(
        request("PUT", "/v2/customer_profiles/OK?runRuleEngine=%FF", {}), parameter="runRuleEngine"
    )
    # The key is checked first, as for every request.
    assert request("PUT", "/v2/customer_profiles/U%FF", {}, key="wrong").status == 401
    # Valid UTF-8 is an id like any other.
    assert request("PUT", "/v2/customer_profiles/U%C3%A9", {}).status == 200
    server.stop()
    nothing_replaced(where)
    assert '"U%FF"' not in repr(state_rows(where)["profiles"])


@pytest.mark.slow
def test_text_in_bodies_that_is_not_unicode_is_400_with_a_pointer(server: Server) -> None:
    where = os.environ["REFCAMP_DB"]
    put = server.request
    cases = [
        # broken UTF-8 in a string
        (b'{"customerSession": {"profileId": "U\xff", "state": "open"}}',
         "/customerSession/profileId"),
        # a lone surrogate escape: the same class
        (b'{"customerSession": {"profileId": "U\\udcff"}}', "/customerSession/profileId"),
        (b'{"customerSession": {"cartItems": [{"sku": "\\ud800", "price": 1}]}}',
         "/customerSession/cartItems/0/sku"),
        (b'{"customerSession": {"attributes": {"a/b": "\xfe"}}}',
         "/customerSession/attributes/a~1b"),
        # a key: the object holding it is named
        (b'{"customerSession": {"attributes": {"\\udcff": 1}}}', "/customerSession/attributes"),
    ]  # fmt: skip
    for body, pointer in cases:
        message = assert_refused(put("PUT", "/v2/customer_sessions/S1", raw=body), pointer=pointer)
        assert "UTF-8" in message or "Unicode" in message, message
        assert pointer.split("/")[-1].replace("~1", "/") in message, message
    # Broken UTF-8 outside any string: the body as a whole.
    assert_refused(put("PUT", "/v2/customer_sessions/S1", raw=b'{"a": 1\xff}'), pointer="")
    event = b'{"type": "t", "profileId": "U\\udcfe"}'
    assert_refused(put("POST", "/v2/events", raw=event), pointer="/profileId")
    profiles = b'{"customerProfiles": [{"integrationId": "U\xff"}]}'
    assert_refused(
        put("PUT", "/v2/customer_profiles", raw=profiles),
        pointer="/customerProfiles/0/integrationId",
    )
    assert put("GET", "/v2/customer_sessions/S1").status == 404
    server.stop()
    nothing_replaced(where)


def test_replay_lines_name_the_field(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    lines = [
        b'{"path": "/v2/customer_profiles/X", "body": {"attributes": {"a": "\\udcff"}}}',
        b'{"path": "/v2/customer_profiles/U%FF", "body": {}}',
        b'{"path": "/v2/customer_profiles/U\\udcff", "body": {}}',
        b'{"path": "/v2/customer_profiles/U\xff", "body": {}}',
        b'{"path": "/v2/customer_sessions/S1", '
        b'"body": {"customerSession": {"profileId": "\\udcff"}}}',
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    result = run("replay", str(log))
    assert result.exit_code == 1, result
    assert "line 1: body.attributes.a: not valid Unicode" in result.stderr
    assert "line 2: path: invalid percent-encoding 'U%FF'" in result.stderr
    assert "line 3: path: not valid Unicode" in result.stderr
    assert "line 4: not UTF-8" in result.stderr
    assert "line 5: body.customerSession.profileId: not valid Unicode" in result.stderr
    nothing_replaced(os.environ["REFCAMP_DB"])


def test_command_line_arguments_and_payloads_that_are_not_utf8_are_refused(run: Run) -> None:
    """A real process: Python hands bytes that are not UTF-8 in argv over as lone surrogates."""
    assert run("profile", "update", "OK").exit_code == 0  # a state to search afterwards

    def refcamp(*args: bytes, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable.encode(), b"-m", b"refcamp", *args]
        return subprocess.run(command, input=stdin, capture_output=True, timeout=120)

    for args, field in [
        ((b"profile", b"update", b"U\xff"), b"profile-id"),
        ((b"session", b"update", b"S\xff", b"--profile", b"P"), b"session-id"),
        ((b"session", b"update", b"S1", b"--profile", b"U\xfe"), b"profile"),
        ((b"profile", b"update", b"P", b"--attr", b"k=\xff"), b"attr"),
    ]:
        done = refcamp(*args)
        assert done.returncode == 2, done
        assert field in done.stderr and b"UTF-8" in done.stderr and b"Traceback" not in done.stderr
    body = b'{"attributes": {"name": "A\xffB"}}'
    done = refcamp(b"profile", b"update", b"P", b"--payload", b"-", stdin=body)
    assert done.returncode == 2, done
    assert b"attributes.name: not UTF-8" in done.stderr, done
    body = b'{"attributes": {"name": "A\\udcffB"}}'
    done = refcamp(b"profile", b"update", b"P", b"--payload", b"-", stdin=body)
    assert done.returncode == 2, done
    assert b"attributes.name: not valid Unicode" in done.stderr, done
    nothing_replaced(os.environ["REFCAMP_DB"])
