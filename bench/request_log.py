"""What the request log (the console's live view) costs replay: the seed workload replayed with
the log on (its default size) and off (REFCAMP_REQUEST_LOG=0), side by side, R alternating
rounds (target: the log costs under 10% of the replay's time).

    python bench/request_log.py [N] [--rounds R]   (default N = 10000, i.e. 20,000 requests; R = 3)
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from common import refcamp, run_rounds, scratch_dir, seed_workload

TARGET = 1.10  # replay time with the log / without: under


def replay_seconds(n: int, size: str | None) -> float:
    """The seed workload's replay time (refcamp's own, without process start), with the request
    log keeping `size` requests (None: the default)."""
    if size is None:
        os.environ.pop("REFCAMP_REQUEST_LOG", None)
    else:
        os.environ["REFCAMP_REQUEST_LOG"] = size
    try:
        with scratch_dir() as scratch:
            db = Path(scratch) / "bench.db"
            refcamp(db, "campaign", "activate", "medium-referral")
            registered, closed = seed_workload(db, n, Path(scratch))
            assert registered["failed"] == 0 and closed["failed"] == 0
            return float(registered["seconds"] + closed["seconds"])
    finally:
        os.environ.pop("REFCAMP_REQUEST_LOG", None)


def main(n: int, rounds: int = 3) -> list[float]:
    ratios = []
    for number in range(rounds):
        order = [None, "0"] if number % 2 == 0 else ["0", None]
        seconds = {size: replay_seconds(n, size) for size in order}
        ratio = seconds[None] / seconds["0"]
        ratios.append(ratio)
        print(
            f"round {number + 1}: with the log {2 * n / seconds[None]:8,.0f} requests/s, "
            f"without {2 * n / seconds['0']:8,.0f} requests/s: {ratio:.3f}x"
        )
    # One round's ratio moves by a third on these machines; the median of alternating rounds
    # is the figure.
    print(
        f"request log: replay time with / without: median {statistics.median(ratios):.3f}x "
        f"over {rounds} rounds ({min(ratios):.3f}-{max(ratios):.3f}; target under {TARGET:.2f}x)"
    )
    return ratios


if __name__ == "__main__":
    run_rounds(main, __doc__)
