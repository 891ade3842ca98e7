"""What the request log (the console's live view) costs replay: the seed workload replayed with
the log on (its default size) and off (REFCAMP_REQUEST_LOG=0), side by side, R alternating
rounds (target: the log costs under 10% of the replay's time).

    python bench/request_log.py [N] [--rounds R]   (default N = 10000, i.e. 20,000 requests; R = 3)
"""

from __future__ import annotations

import os
import resource
import statistics
from pathlib import Path

from common import refcamp, run_rounds, scratch_dir, seed_workload

TARGET = 1.10  # replay time with the log / without: under


def replay_seconds(n: int, size: str | None) -> tuple[float, float]:
    """The seed workload's replay time (refcamp's own, without process start) and the CPU time
    of refcamp's processes (the replays with their readers, and the commands around them: the
    same on both sides), with the request log keeping `size` requests (None: the default)."""
    if size is None:
        os.environ.pop("REFCAMP_REQUEST_LOG", None)
    else:
        os.environ["REFCAMP_REQUEST_LOG"] = size
    try:
        with scratch_dir() as scratch:
            db = Path(scratch) / "bench.db"
            refcamp(db, "campaign", "activate", "medium-referral")
            before = _cpu()
            registered, closed = seed_workload(db, n, Path(scratch))
            assert registered["failed"] == 0 and closed["failed"] == 0
            return float(registered["seconds"] + closed["seconds"]), _cpu() - before
    finally:
        os.environ.pop("REFCAMP_REQUEST_LOG", None)


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main(n: int, rounds: int = 3) -> list[float]:
    ratios, cpu = [], []
    for number in range(rounds):
        order = [None, "0"] if number % 2 == 0 else ["0", None]
        measured = {size: replay_seconds(n, size) for size in order}
        (on, on_cpu), (off, off_cpu) = measured[None], measured["0"]
        ratios.append(on / off)
        cpu.append(on_cpu / off_cpu)
        print(
            f"round {number + 1}: with the log {2 * n / on:8,.0f} requests/s, without "
            f"{2 * n / off:8,.0f} requests/s: time {on / off:.3f}x, CPU {on_cpu / off_cpu:.3f}x"
        )
    # One round's time ratio moves by a third on these machines (CPU time a little less); the
    # medians of alternating rounds are the figures.
    print(
        f"request log: replay time with / without: median {statistics.median(ratios):.3f}x "
        f"over {rounds} rounds ({min(ratios):.3f}-{max(ratios):.3f}); CPU time median "
        f"{statistics.median(cpu):.3f}x ({min(cpu):.3f}-{max(cpu):.3f}); target under "
        f"{TARGET:.2f}x"
    )
    return ratios


if __name__ == "__main__":
    run_rounds(main, __doc__)
