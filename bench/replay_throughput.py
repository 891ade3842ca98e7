"""Replay throughput on the seed workload: N profile registrations, then N closed sessions carrying
their referral codes (target: at least 10,000 requests/s on a 2-core machine).

    python bench/replay_throughput.py [N]        (default N = 10000, i.e. 20,000 requests)
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import rate, refcamp, scratch_dir, seed_workload

TARGET = 10_000


def main(n: int) -> float:
    with scratch_dir() as scratch:
        db = Path(scratch) / "bench.db"
        refcamp(db, "campaign", "activate", "medium-referral")
        registered, closed = seed_workload(db, n, Path(scratch))
        assert registered["failed"] == 0 and closed["failed"] == 0
        total = registered["applied"] + closed["applied"]
        seconds = registered["seconds"] + closed["seconds"]
        overall = total / seconds
        print(f"registrations: {rate(registered):8,.0f} requests/s ({registered['applied']})")
        print(f"closed sessions: {rate(closed):6,.0f} requests/s ({closed['applied']})")
        print(f"seed workload: {overall:8,.0f} requests/s over {total} requests")
        print(f"ratio to the {TARGET:,}/s target: {overall / TARGET:.2f}")
        return overall


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
