"""Cost per request as the state grows: the seed workload replayed into an empty database, then
into one that already holds 100,000 profiles and 1,000,000 ledger entries (target: throughput
within 1.25x of the empty database).

    python bench/large_state.py [N] [PROFILES] [ENTRIES]   (defaults 5000 100000 1000000)
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from common import refcamp, scratch_dir, seed_workload

TARGET = 1.25


def prefill(db: Path, profiles: int, entries: int) -> None:
    """Fill the state file directly (refcamp's schema, plain SQL) — fast, and realistic enough:
    customers, one closed session each, and ledger entries spread over them."""
    from refcamp.store.db import connect

    conn = connect(db)
    conn.execute("BEGIN")
    now = "2026-01-01T00:00:00.000Z"
    conn.executemany(
        "INSERT INTO profiles (id, attributes, created, updated) VALUES (?, '{}', ?, ?)",
        ((f"OLD{i}", now, now) for i in range(profiles)),
    )
    conn.executemany(
        "INSERT INTO sessions (id, profile_id, state, created, updated) "
        "VALUES (?, ?, 'closed', ?, ?)",
        ((f"OLD-S{i}", f"OLD{i}", now, now) for i in range(profiles)),
    )
    conn.executemany(
        "INSERT INTO ledger (transaction_uuid, program_id, profile_id, session_id, campaign_id, "
        "type, amount, name, start_date, created) "
        "VALUES (?, 'sample-wallet', ?, ?, 'medium-referral', 'addition', 10, 'old', ?, ?)",
        (
            (str(uuid.UUID(int=i)), f"OLD{i % profiles}", f"OLD-S{i % profiles}", now, now)
            for i in range(entries)
        ),
    )
    conn.execute("COMMIT")
    conn.close()


def throughput(db: Path, n: int, scratch: Path, prefix: str) -> float:
    registered, closed = seed_workload(db, n, scratch, prefix)
    assert registered["failed"] == 0 and closed["failed"] == 0
    return (registered["applied"] + closed["applied"]) / (registered["seconds"] + closed["seconds"])


def main(n: int, profiles: int, entries: int) -> float:
    with scratch_dir() as scratch:
        empty = Path(scratch) / "empty.db"
        large = Path(scratch) / "large.db"
        for db in (empty, large):
            refcamp(db, "campaign", "activate", "medium-referral")
        prefill(large, profiles, entries)
        small_rate = throughput(empty, n, Path(scratch), "E")
        large_rate = throughput(large, n, Path(scratch), "L")
        ratio = small_rate / large_rate
        print(f"empty database:  {small_rate:8,.0f} requests/s")
        print(f"{profiles:,} profiles, {entries:,} ledger entries: {large_rate:8,.0f} requests/s")
        print(f"ratio (empty / large): {ratio:.2f} (target at most {TARGET})")
        return ratio


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [5000, 100_000, 1_000_000][len(args) :]))
