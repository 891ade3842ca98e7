"""Replay throughput on the seed workload (N profile registrations, then N closed sessions
carrying their referral codes) as a ratio to the floor, a hand-written sqlite3 loop doing the same
rows, measured side by side: R rounds alternating `refcamp replay` and the floor(s) on the same N.

The floor is bench/floor.py: the shared floor (../shared/bench/floor.py) raised by only the work
refcamp must really do for this workload (see its docstring). The shared floor itself, unchanged,
runs too when ../shared is present (CI clones only this repository: then only the raised floor).
Targets: refcamp / raised floor at least 0.6 overall; `replay --out FILE` (full responses) at
most 1.15x the time of the same replay without it.

    python bench/replay_throughput.py [N] [--rounds R]   (default N = 10000, i.e. 20,000
                                                          requests; R = 3)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import floor
from common import rate, refcamp, run_rounds, scratch_dir, seed_workload

TARGET = 0.6  # refcamp / raised floor, overall requests/s: at least
OUT_TARGET = 1.15  # time of `replay --out FILE` / time without: at most
KINDS = ("registrations", "closes", "overall")

LABELS = {"raised floor": "refcamp/floor", "shared floor": "refcamp/shared floor"}

Figures = dict[str, float]


def refcamp_run(scratch: Path, n: int, out: bool = False) -> Figures:
    """The seed workload replayed by refcamp into a fresh state file: requests/s of each part
    and overall, and the replays' own seconds (refcamp's timing, without process start)."""
    db = scratch / "bench.db"
    refcamp(db, "campaign", "activate", "medium-referral")
    registered, closed = seed_workload(db, n, scratch, out=out)
    for summary in (registered, closed):
        assert summary["failed"] == 0 and summary["applied"] == n, summary
    seconds = registered["seconds"] + closed["seconds"]
    total = registered["applied"] + closed["applied"]
    return {
        "registrations": rate(registered),
        "closes": rate(closed),
        "overall": total / seconds if seconds else float("inf"),
        "seconds": seconds,
    }


def shown(figures: Figures) -> str:
    return "  ".join(f"{kind} {figures[kind]:8,.0f}/s" for kind in KINDS)


def ratios(ours: Figures, theirs: Figures) -> Figures:
    return {kind: ours[kind] / theirs[kind] for kind in KINDS}


def spread(values: list[float], form: str) -> str:
    low, high = min(values), max(values)
    return format(low, form) if len(values) == 1 else f"{low:{form}}–{high:{form}}"


def main(n: int = 10_000, rounds: int = 3) -> dict[str, list[Figures]]:
    shared = floor.shared_floor()
    runners: dict[str, Callable[[Path], Figures]] = {
        "refcamp --out": lambda d: refcamp_run(d, n, out=True),
        "refcamp": lambda d: refcamp_run(d, n),
        "raised floor": lambda d: floor.run(d, n),
    }
    if shared is not None:
        runners["shared floor"] = lambda d: floor.run_shared(shared, d, n)
    else:
        print("shared floor: ../shared/bench/floor.py not found; the raised floor only")
    print(f"seed workload: {n:,} registrations + {n:,} closed sessions, {rounds} round(s)")
    results: dict[str, list[Figures]] = {name: [] for name in runners}
    with scratch_dir() as scratch:
        for r in range(rounds):
            # Alternate the order every round, refcamp always next to its floor and to --out,
            # so that each pair sees the same machine load.
            order = list(runners) if r % 2 == 0 else list(reversed(runners))
            for name in order:
                directory = Path(scratch) / f"round{r}-{name.replace(' ', '-')}"
                directory.mkdir()
                results[name].append(runners[name](directory))
                shutil.rmtree(directory)
            for name in runners:
                print(f"round {r + 1}: {name:13} {shown(results[name][r])}")
            line = _ratio_line(results, r, "raised floor")
            if shared is not None:
                line += "; " + _ratio_line(results, r, "shared floor")
            out = results["refcamp --out"][r]["seconds"] / results["refcamp"][r]["seconds"]
            print(f"round {r + 1}: {line}; --out {out:.2f}x")
    _summary(results, rounds)
    return results


def _ratio_line(results: dict[str, list[Figures]], r: int, against: str) -> str:
    figures = ratios(results["refcamp"][r], results[against][r])
    return f"{LABELS[against]} " + " ".join(f"{kind} {figures[kind]:.2f}" for kind in KINDS)


def _summary(results: dict[str, list[Figures]], rounds: int) -> None:
    print(f"over {rounds} round(s), min–max:")
    for name, figures in results.items():
        parts = [f"{kind} {spread([f[kind] for f in figures], ',.0f')}/s" for kind in KINDS]
        print(f"  {name:13} " + "  ".join(parts))
    for against in ("raised floor", "shared floor"):
        if against not in results:
            continue
        each = [
            ratios(ours, theirs)
            for ours, theirs in zip(results["refcamp"], results[against], strict=True)
        ]
        parts = [f"{kind} {spread([f[kind] for f in each], '.2f')}" for kind in KINDS]
        note = (
            f" (target overall at least {TARGET})"
            if against == "raised floor"
            else " (for reference: it leaves out required work)"
        )
        print(f"{LABELS[against]}: " + ", ".join(parts) + note)
    overhead = [
        with_out["seconds"] / without["seconds"]
        for with_out, without in zip(results["refcamp --out"], results["refcamp"], strict=True)
    ]
    print(
        f"--out overhead (time with --out / without): {spread(overhead, '.2f')}x "
        f"(target at most {OUT_TARGET}x)"
    )


if __name__ == "__main__":
    run_rounds(main, __doc__)
