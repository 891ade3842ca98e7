"""Shared pieces of the benchmarks: a scratch directory, running refcamp, the seed workload."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workload import closes, registrations


def env(db: Path) -> dict[str, str]:
    out = {**os.environ, "REFCAMP_DB": str(db), "NO_COLOR": "1"}
    # Measure refcamp as users run it: with its bytecode cached (some shells and sandboxes set
    # this, which makes every start recompile refcamp's modules from source).
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in ("REFCAMP_CAMPAIGNS", "REFCAMP_NOW", "REFCAMP_SEED"):
        out.pop(name, None)
    return out


def refcamp(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "refcamp", *args], env=env(db), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"refcamp {' '.join(args)} failed:\n{result.stderr}")
    return result


def replay(db: Path, lines: list[str], scratch: Path, name: str, out: bool = False) -> dict:
    """Replay JSON Lines; returns refcamp's own summary (its timing excludes process start).
    With `out`, the full responses go to scratch/NAME.out.jsonl (`replay --out`)."""
    path = scratch / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    extra = ["--out", str(scratch / f"{name}.out.jsonl")] if out else []
    return json.loads(refcamp(db, "replay", str(path), *extra, "--json").stdout)


def seed_workload(
    db: Path, n: int, scratch: Path, prefix: str = "", out: bool = False
) -> tuple[dict, dict]:
    """n registrations, then n closed sessions each bringing one of the new codes (with `out`,
    both replays write their full responses, `replay --out`)."""
    first = replay(db, registrations(n, prefix + "ADV"), scratch, prefix + "registrations", out)
    codes = [
        r["code"]
        for r in json.loads(refcamp(db, "referral", "list", "--json").stdout)
        if r["advocateProfileIntegrationId"].startswith(prefix + "ADV")
    ]
    second = replay(db, closes(codes, prefix + "FRIEND"), scratch, prefix + "closes", out)
    return first, second


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="refcamp-bench-")


def rate(summary: dict) -> float:
    return summary["applied"] / summary["seconds"] if summary["seconds"] else float("inf")


def run_rounds(main: Callable[[int, int], object], doc: str) -> None:
    """The command line of a benchmark measured in rounds: `[N] [--rounds R]`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.n, args.rounds)
