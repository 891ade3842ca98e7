"""bench/floor.py, refcamp's raised replay floor (#13): the work it adds to the shared floor
really happens. (bench/run.py --quick, which prints refcamp/floor, runs in test_simulate_stats.)"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

REPO = Path(__file__).resolve().parents[1]
N = 50


@pytest.mark.slow
def test_raised_floor_does_the_required_work(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "floor.py"), str(tmp_path), str(N)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rates = json.loads(proc.stdout)
    assert set(rates) == {"registrations_per_s", "closes_per_s", "overall_per_s"}
    conn = sqlite3.connect(tmp_path / "floor.db")
    try:
        # (b) each closed session keeps its latest effects
        sessions = conn.execute("SELECT effects FROM sessions").fetchall()
        assert len(sessions) == N
        assert all(json.loads(effects) for (effects,) in sessions)
        # (a) each redemption carries its campaign, which the per-profile limit counts by
        redemptions = conn.execute("SELECT campaign_id FROM redemptions").fetchall()
        assert len(redemptions) == N and all(campaign for (campaign,) in redemptions)
        # (c) 100 ledger entries, each chained to the previous one of its (profile, program)
        rows = conn.execute(
            "SELECT profile_id, program_id, transaction_uuid, session_id, type, amount, name, "
            "created, chain FROM ledger ORDER BY id"
        ).fetchall()
        assert len(rows) == 2 * N
        encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
        last: dict[tuple[str, str], str] = {}
        for profile, program, uuid_, session, type_, amount, name, created, chain in rows:
            assert re.fullmatch(r"[0-9a-f]{64}", chain)
            previous = last.get((profile, program), "")
            row = (uuid_, program, profile, session, type_, amount, name, created)
            assert chain == hashlib.sha256(encode((previous, *row)).encode()).hexdigest()
            last[(profile, program)] = chain
        # (d) codes are unique (checked before insert; the primary key would reject a duplicate)
        assert conn.execute("SELECT count(DISTINCT code) FROM referrals").fetchone()[0] == N
    finally:
        conn.close()
