"""Several `refcamp serve` processes on one PostgreSQL state (#11), with real processes, a real
PostgreSQL server and real HTTP: SERVERS servers on one schema, CLIENTS client processes spread
across them round-robin (each with its own connection, released together by a go file; the client
and its helpers are tests/test_serve_load.py's), the state read back after.

- a single-use coupon brought by eight sessions on four servers at the same moment is accepted
  exactly once (the write transactions of all the servers take one advisory lock);
- eight clients closing sessions across the four servers for LOAD_SECONDS: every 200 is committed
  with its points, nothing else is, no 5xx, and the CLI reads and writes the same state meanwhile;
- kill -9 of one server under load: the clients of the others keep getting 200s (the dead server's
  transaction, and the lock it held, end with its connection), and every 200 it gave is stored.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pg_cluster import Cluster
from serving import KEY, Server, start_many, stored_sessions
from test_serve_load import (
    CLIENTS,
    LOAD_SECONDS,
    assert_load_committed,
    assert_one_accepted,
    clients,
    flat,
    load_specs,
    load_with_cli,
    ok,
    register,
    rewarded,
)

# slow: load, races and kill -9 on real servers. stateless: these tests choose their state
# themselves (a fresh schema of the worker's PostgreSQL cluster, the `shared_state` fixture), so
# they must run once: with the `engine` parameter they would run twice, the SQLite run on exactly
# the same PostgreSQL state (the marker keeps only the first engine, whose file nothing reads:
# hence the `[sqlite]` in their ids).
pytestmark = [pytest.mark.slow, pytest.mark.stateless]

SERVERS = 4
RACES = 3  # single-use coupons raced for, one after the other (one race is the spec; more is cheap)
KILL_AFTER = 3.0  # seconds of load before the kill -9
AFTER_KILL = 5  # 200s each surviving client must get after the kill has had a second to settle
TIMEOUT = 120  # seconds the clients of the kill test may run before they give up


@pytest.fixture
def shared_state(postgres: Cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh schema of this worker's PostgreSQL server: the state every server, client and
    command of the test shares (REFCAMP_DB, which their processes inherit)."""
    url = postgres.url()
    monkeypatch.setenv("REFCAMP_DB", url)
    return url


@contextmanager
def servers(count: int = SERVERS) -> Iterator[list[Server]]:
    """`count` `refcamp serve` processes on REFCAMP_DB, each on a port of its own."""
    running = start_many(count)
    try:
        yield running
    finally:
        for server in running:
            server.stop()


def spread(specs: list[dict[str, Any]], running: Sequence[Server]) -> list[dict[str, Any]]:
    """Client c talks to server c mod len(running)."""
    for c, spec in enumerate(specs):
        spec["port"] = running[c % len(running)].port
    return specs


# --- a: one single-use coupon, eight sessions on four servers at the same moment -----------------


def test_single_use_coupon_is_accepted_once_across_four_servers(
    shared_state: str, campaigns_dir: Path, tmp_path: Path
) -> None:
    ok("campaign", "activate", "spring-coupons")
    created = ok(
        "coupon", "create", "--campaign", "spring-coupons", "--count", str(RACES), "--json"
    )
    coupons = json.loads(created)
    assert [coupon["usageLimit"] for coupon in coupons] == [1] * RACES
    codes = [coupon["value"] for coupon in coupons]
    assert len(set(codes)) == RACES
    with servers() as running:
        for race, code in enumerate(codes):
            specs = [
                {"mode": "race", "key": KEY, "session": f"RACE{race}-{c}",
                 "profile": f"RACER{race}-{c}", "coupon": code}
                for c in range(CLIENTS)
            ]  # fmt: skip
            with clients(tmp_path, spread(specs, running)) as group:
                group.release()
                got = flat(group.results())

            # Whichever server each asked: one acceptance, the others told it is used up.
            assert_one_accepted(got, code, shared_state)
    ok("db", "check")


# --- b: sustained load on four servers, with the CLI on the same state ---------------------------


def test_sustained_load_on_four_servers_every_200_is_committed(
    shared_state: str, campaigns_dir: Path, tmp_path: Path
) -> None:
    ok("campaign", "activate", "medium-referral")
    with servers() as running:
        codes = [register(running[c % SERVERS], f"ADV{c}") for c in range(CLIENTS)]
        specs = spread(load_specs(running[0].port, codes, "L", LOAD_SECONDS), running)
        results, seen_balances, final_balance = load_with_cli(tmp_path, specs)
        alive = [server.process.poll() for server in running]
    assert alive == [None] * SERVERS, alive
    # Every client, so every server, was served throughout: 10 requests each in 30 s at least
    # (a run shortened by REFCAMP_LOAD_SECONDS asks for fewer).
    served = max(2, int(LOAD_SECONDS // 3))
    assert_load_committed(results, shared_state, seen_balances, final_balance, served)


# --- c: kill -9 of one of four servers under load ------------------------------------------------


def test_kill_9_of_one_server_the_others_carry_on_and_no_200_is_lost(
    shared_state: str, campaigns_dir: Path, tmp_path: Path
) -> None:
    ok("campaign", "activate", "medium-referral")
    victims = [c for c in range(CLIENTS) if c % SERVERS == 0]
    survivors = [c for c in range(CLIENTS) if c % SERVERS != 0]

    def per_client(stored: dict[str, Any]) -> list[int]:
        """Sessions stored per client (their ids are K<client>-<n>)."""
        counts = [0] * CLIENTS
        for sid in stored:
            if sid.startswith("K"):
                counts[int(sid[1:].split("-")[0])] += 1
        return counts

    with servers() as running:
        codes = [register(running[c % SERVERS], f"ADV{c}") for c in range(CLIENTS)]
        stop = tmp_path / "stop"  # the clients keep sending through it all, until this appears
        specs = spread(load_specs(running[0].port, codes, "K", TIMEOUT, stop), running)
        victim = running[0]  # the server of clients 0, SERVERS, 2 * SERVERS, ...
        with clients(tmp_path, specs) as group:
            opened = group.release()
            time.sleep(max(0.0, opened + KILL_AFTER - time.monotonic()))
            killed_at = time.monotonic()
            os.kill(victim.process.pid, signal.SIGKILL)
            assert victim.process.wait(timeout=30) == -signal.SIGKILL
            time.sleep(1.0)
            # The load runs until every surviving client has AFTER_KILL more sessions stored than
            # now (each one committed after this point, so answered after it): waiting for a
            # count, not a fixed time, as a busy machine may serve a client only every second.
            settled = per_client(stored_sessions(shared_state))
            deadline = time.monotonic() + TIMEOUT / 2
            while time.monotonic() < deadline:
                now = per_client(stored_sessions(shared_state))
                if all(now[c] - settled[c] >= AFTER_KILL for c in survivors):
                    break
                time.sleep(0.1)
            stop.touch()
            results = group.results()
        alive = [server.process.poll() for server in running[1:]]
    assert alive == [None] * (SERVERS - 1), alive

    got = flat(results)
    assert {status for _, status, _, _ in got} <= {0, 200}, [r for r in got if r[1] not in (0, 200)]
    assert all(rewarded(effects) for _, status, effects, _ in got if status == 200)

    # The victim's clients failed only once it was gone (refused or cut off), never before; the
    # others never failed.
    for c in victims:
        failed = [r for r in results[c] if r[1] == 0]
        assert failed, f"client {c} never noticed the kill"
        assert all(t >= killed_at for *_, t in failed), failed[:5]
        assert any(t < killed_at for _, status, _, t in results[c] if status == 200)
    for c in survivors:
        assert all(r[1] == 200 for r in results[c]), [r for r in results[c] if r[1] != 200][:5]
        # ... and kept getting 200s well after the kill: whatever the victim held (a transaction,
        # the advisory write lock) was let go with its connection.
        after = [t for _, status, _, t in results[c] if status == 200 and t > killed_at + 1.0]
        assert len(after) >= AFTER_KILL, (c, len(after))

    ok("db", "check")
    # A 200 means committed, whichever server gave it: every one is in the state, whole.
    acknowledged = {sid for sid, status, _, _ in got if status == 200}
    stored = stored_sessions(shared_state)
    assert {sid: stored.get(sid) for sid in acknowledged} == {
        sid: ("closed", 2, 150) for sid in acknowledged
    }
    # What was stored without a 200 can only be what the victim had in flight (one request per
    # client of it at most), and it is whole too: no request is half committed.
    unacknowledged = {sid: row for sid, row in stored.items() if sid not in acknowledged}
    assert len(unacknowledged) <= len(victims), unacknowledged
    assert all(row == ("closed", 2, 150) for row in unacknowledged.values()), unacknowledged
    assert set(unacknowledged) <= {r[0] for c in victims for r in results[c] if r[1] == 0}
