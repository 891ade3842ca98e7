"""All six benchmarks; `--quick` is the seconds-long smoke run CI uses (no timing is asserted).

python bench/run.py [--quick]
"""

from __future__ import annotations

import sys

import cold_start
import large_state
import postgres
import replay_throughput
import request_log
import serve_throughput

quick = "--quick" in sys.argv
print("== replay throughput ==")
if quick:  # one round still runs every path: the floors, refcamp, refcamp --out
    replay_throughput.main(200, rounds=1)
else:
    replay_throughput.main(10_000, rounds=3)
print("== what the request log costs replay ==")
request_log.main(200 if quick else 10_000, rounds=1 if quick else 5)
print("== cost per request as the state grows ==")
if quick:
    large_state.main(100, 1_000, 10_000)
else:
    large_state.main(5_000, 100_000, 1_000_000)
print("== serve throughput ==")
serve_throughput.main(200 if quick else 10_000)
print("== state in PostgreSQL: replay vs SQLite, serve with 1, 2 and 4 processes ==")
if quick:
    postgres.main(100, 50, rounds=1, counts=(1, 2), clients=2)
else:
    postgres.main()
print("== cold start ==")
cold_start.main(3 if quick else 30)
