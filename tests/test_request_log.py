"""The request log (#12) without a browser: bounded by REFCAMP_REQUEST_LOG, dry runs left out,
failures over HTTP kept with their status and message, a long replay's last lines kept."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import open_state

from refcamp import service
from refcamp.errors import NotFoundError
from refcamp.models import LoggedRequest
from refcamp.service import request_log
from refcamp.settings import Settings
from tests.serving import serving


@contextmanager
def workspace() -> Iterator[service.Workspace]:
    ws = service.Workspace(Settings.read(os.environ))  # as a command reads them
    try:
        yield ws
    finally:
        ws.close()


def logged() -> list[LoggedRequest]:
    """Every request the log keeps, newest first."""
    with workspace() as ws:
        return request_log.recent(ws, limit=10_000)


def test_the_log_keeps_only_the_newest(active, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFCAMP_REQUEST_LOG", "3")
    for n in range(5):
        assert active("profile", "update", f"P{n}").exit_code == 0
    kept = logged()
    assert [entry.profile_id for entry in kept] == ["P4", "P3", "P2"]
    assert all(entry.door == "cli" and entry.status == 200 for entry in kept)
    assert kept[0].path == "/v2/customer_profiles/P4"
    assert [e.effect_type for e in kept[0].effects] == ["referralCreated"]
    assert kept[0].explanation is not None and kept[0].explanation["rules"]
    with workspace() as ws:
        assert request_log.get(ws, kept[0].id) == kept[0]
        with pytest.raises(NotFoundError, match="keeps the newest 3"):
            request_log.get(ws, kept[-1].id - 1)  # trimmed


def test_zero_keeps_none(active, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFCAMP_REQUEST_LOG", "0")
    assert active("profile", "update", "P").exit_code == 0
    assert logged() == []


@pytest.mark.parametrize("value", ["lots", "-1", "1.5", "1000001"])
def test_a_bad_size_is_exit_2_with_a_clear_message(active, value: str) -> None:
    result = active("profile", "update", "P", env={"REFCAMP_REQUEST_LOG": value})
    assert result.exit_code == 2, result
    assert "REFCAMP_REQUEST_LOG" in result.stderr
    assert "expected a number of requests from 0 to 1000000" in result.stderr
    assert repr(value) in result.stderr
    # Said before the request ran: nothing was saved (not a saved request reported as failed).
    shown = active("profile", "show", "P")
    assert shown.exit_code != 0 and "no customer profile 'P'" in shown.stderr


def test_dry_runs_are_not_logged(active) -> None:
    assert active("profile", "update", "DRY", "--dry-run").exit_code == 0
    assert active("session", "close", "S", "--profile", "DRY", "--dry-run").exit_code == 0
    assert logged() == []
    assert active("profile", "update", "REAL").exit_code == 0
    assert [entry.profile_id for entry in logged()] == ["REAL"]


@pytest.mark.slow
def test_failures_over_http_are_logged_with_status_and_message(active) -> None:
    with serving() as server:
        missing = server.request("PUT", "/v2/customer_sessions/NONE/reopen")
        assert missing.status == 404
        assert server.request("PUT", "/v2/customer_sessions/BAD", raw=b"{not json").status == 400
        ok = server.request("PUT", "/v2/customer_profiles/OK?runRuleEngine=true", {})
        assert ok.status == 200
    good, bad, missing = logged()
    assert (missing.door, missing.method, missing.path) == (
        "http",
        "PUT",
        "/v2/customer_sessions/NONE/reopen",
    )
    assert missing.status == 404 and "NONE" in (missing.message or "")
    assert missing.effects == () and missing.explanation is None
    assert (bad.status, bad.path) == (400, "/v2/customer_sessions/BAD")
    assert bad.message
    assert (good.status, good.path) == (200, "/v2/customer_profiles/OK?runRuleEngine=true")
    assert good.profile_id == "OK" and [e.effect_type for e in good.effects] == ["referralCreated"]


@pytest.mark.slow
def test_reads_and_dry_runs_over_http_are_not_logged(active) -> None:
    """A read would push real requests out of the log; a dry run, in any spelling of true, or
    with a malformed flag, must leave the state file as it was."""
    with serving() as server:
        assert server.request("PUT", "/v2/customer_profiles/R?runRuleEngine=true", {}).status == 200
        before = logged()
        assert server.request("GET", "/v1/customer_profiles/R/inventory").status == 200
        assert server.request("GET", "/v2/customer_sessions/NONE").status == 404
        for flag in ("true", "TRUE", "yes"):
            reply = server.request("PUT", f"/v2/customer_profiles/D?dry={flag}", {})
            assert reply.status == 200, reply
        assert server.request("PUT", "/v2/customer_profiles/D?dry=maybe", {}).status == 400
        assert server.request("PUT", "/v2/customer_profiles/D?dry=yes", raw=b"{").status == 400
    assert logged() == before


@pytest.mark.both_engines
@pytest.mark.slow
def test_a_failure_is_answered_at_once_while_another_process_holds_the_write_lock(
    active,
) -> None:
    """Logging a failure never waits for the state file's lock (a command or a replay may hold
    it for long): the 400 comes while the lock is held, and is logged with the next group."""
    with serving() as server:
        # refcamp's own write transaction: SQLite's write lock, or PostgreSQL's advisory lock.
        holder = open_state(os.environ["REFCAMP_DB"])
        holder.execute("BEGIN IMMEDIATE")
        try:
            # Were the answer waiting for the lock (30 s), this would time out first.
            bad = server.request("PUT", "/v2/customer_sessions/B", raw=b"{", timeout=10)
            assert bad.status == 400
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert server.request("PUT", "/v2/customer_profiles/NEXT", {}).status == 200
    assert [(e.status, e.path) for e in logged()] == [
        (200, "/v2/customer_profiles/NEXT"),
        (400, "/v2/customer_sessions/B"),
    ]


def test_erasing_a_customer_erases_their_logged_requests(active) -> None:
    """Logged explanations show attribute values: `profile delete` takes them too."""
    assert active("profile", "update", "ALICE", "--attr", "email=alice@example.com").exit_code == 0
    assert active("profile", "update", "BOB").exit_code == 0
    assert active("profile", "delete", "ALICE").exit_code == 0
    kept = logged()
    # The erasure itself is logged without the id (tests/test_erasure_log.py has the rest).
    assert [(entry.profile_id, entry.path) for entry in kept] == [
        (None, "/v1/customer_data/{integrationId}"),
        ("BOB", "/v2/customer_profiles/BOB"),
    ]
    assert "alice@example.com" not in repr(kept) and "ALICE" not in repr(kept)


def test_a_log_turned_off_forgets_what_it_kept(active, monkeypatch: pytest.MonkeyPatch) -> None:
    assert active("profile", "update", "P1").exit_code == 0
    monkeypatch.setenv("REFCAMP_REQUEST_LOG", "0")
    assert active("profile", "update", "P2").exit_code == 0
    assert logged() == []


def test_a_replay_stopped_early_logs_the_last_lines_it_committed(
    active, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFCAMP_REQUEST_LOG", "5")
    lines = [
        json.dumps({"path": f"/v2/customer_profiles/R{n:02}", "body": {}}) for n in range(1, 21)
    ]
    lines[10] = "{not json"  # line 11
    log = tmp_path / "stops.jsonl"
    log.write_text("\n".join(lines) + "\n")
    assert active("replay", str(log), "--stop-on-error").exit_code == 1
    kept = logged()
    assert [entry.profile_id for entry in kept] == ["R10", "R09", "R08", "R07", "R06"]


def test_a_long_replay_logs_only_its_last_lines(
    active, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFCAMP_REQUEST_LOG", "5")
    log = tmp_path / "long.jsonl"
    lines = (
        {"path": f"/v2/customer_profiles/R{n:02}", "body": {}, "query": {"runRuleEngine": "true"}}
        for n in range(20)
    )
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert active("replay", str(log)).exit_code == 0
    kept = logged()
    assert [entry.profile_id for entry in kept] == ["R19", "R18", "R17", "R16", "R15"]
    assert {entry.door for entry in kept} == {"replay"}
    assert all(e.effects and e.effects[0].effect_type == "referralCreated" for e in kept)
