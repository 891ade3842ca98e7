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

from refcamp.store.migrations import APPLICATION_ID, MIGRATIONS
from refcamp.store.queries import CHAINED

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
        # (c) 100 ledger entries, each chained to the previous one of its (profile, program),
        # over the columns refcamp's chain covers, in its order
        rows = conn.execute(f"SELECT {', '.join(CHAINED)}, chain FROM ledger ORDER BY id")
        rows = rows.fetchall()
        assert len(rows) == 2 * N
        encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
        last: dict[tuple[str, str], str] = {}
        for *row, chain in rows:
            assert re.fullmatch(r"[0-9a-f]{64}", chain)
            key = (row[CHAINED.index("profile_id")], row[CHAINED.index("program_id")])
            assert chain == hashlib.sha256(encode((last.get(key, ""), *row)).encode()).hexdigest()
            last[key] = chain
        # (e) refcamp's schema, made by its migrations, with its foreign keys holding
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        ledger = dict(conn.execute("SELECT rule_name, count(*) FROM ledger GROUP BY 1").fetchall())
        assert ledger == {"Friend redeems referral code": 2 * N}
        kinds = conn.execute("SELECT DISTINCT kind, rule_index FROM redemptions").fetchall()
        assert kinds == [("referral", 1)]
        # (d) codes are unique (checked before insert; the primary key would reject a duplicate)
        assert conn.execute("SELECT count(DISTINCT code) FROM referrals").fetchone()[0] == N
    finally:
        conn.close()
