"""Cold start: `refcamp session close --profile P --json` against a bare two-command Typer app in
the same virtual environment, measured side by side (target: at most 1.3x).

    python bench/cold_start.py [RUNS]     (default 30; the median of each is compared)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import env, refcamp, scratch_dir

TARGET = 1.3

BARE = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    print(f"bye {name}")


if __name__ == "__main__":
    app()
"""


def timed(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environment, capture_output=True, check=True)
    return time.perf_counter() - started


def main(runs: int) -> float:
    with scratch_dir() as scratch:
        db = Path(scratch) / "bench.db"
        bare = Path(scratch) / "bare.py"
        bare.write_text(BARE)
        refcamp(db, "campaign", "activate", "medium-referral")
        environment = env(db)
        ours_cmd = [sys.executable, "-m", "refcamp", "session", "close", "--profile", "P", "--json"]
        bare_cmd = [sys.executable, str(bare), "hello"]
        for command in (ours_cmd, bare_cmd):  # warm the file cache and .pyc files
            timed(command, environment)
        ours, theirs = [], []
        for _ in range(runs):  # interleaved, so both see the same machine load
            ours.append(timed(ours_cmd, environment))
            theirs.append(timed(bare_cmd, environment))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"refcamp session close --json: {a * 1000:6.1f} ms (median of {runs})")
        print(f"bare two-command Typer app:   {b * 1000:6.1f} ms")
        print(f"ratio: {a / b:.2f} (target at most {TARGET})")
        return a / b


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
