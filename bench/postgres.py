"""refcamp's state in PostgreSQL (#11), measured side by side in one run, ratios first:

(i) replay: the seed workload (N registrations, then N closed sessions bringing their codes;
    bench/workload.py, as bench/replay_throughput.py replays it) by `refcamp replay` into a fresh
    PostgreSQL schema and into a fresh SQLite file, R rounds alternating which goes first:
    PostgreSQL / SQLite requests/s (refcamp's own timing, without process start).
(ii) serve: `refcamp serve` on one PostgreSQL state with 1, 2 and 4 processes, CLIENTS closed-loop
    client processes spread across them round-robin (bench/serve_throughput.py's client: one
    persistent connection each, the same workload over HTTP), R rounds alternating the order:
    requests/s and the ratio to 1 process.

Every write transaction takes one advisory lock per state (src/refcamp/store/postgres.py), so
writes are serialized whichever process runs them: more processes add parallel request parsing,
rule evaluation and answer rendering, not parallel commits. The machine's cores bound it too:
servers, clients and PostgreSQL all share them (the core count is printed).

It starts its own PostgreSQL server (tests/pg_cluster.py: a cluster in a temporary directory, on
a free port, fsync and synchronous_commit off as the tests run it) and removes it at the end.

    python bench/postgres.py [--replay N] [--serve N] [--rounds R] [--processes 1,2,4]
                             [--clients C]
    (defaults: replay N = 2000, serve N = 1000 per run, i.e. 4,000 and 2,000 requests; R = 2;
     C = 8; about two and a half minutes on two cores)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from common import env, rate, refcamp, scratch_dir, seed_workload
from pg_cluster import Cluster
from serve_throughput import KEY, Server, client, start, stopped

Figures = dict[str, float]


def spread(values: list[float], form: str) -> str:
    low, high = min(values), max(values)
    return format(low, form) if len(values) == 1 else f"{low:{form}}–{high:{form}}"


# --- (i) replay into PostgreSQL and into SQLite --------------------------------------------------


def replay_run(db: str, scratch: Path, n: int) -> Figures:
    """The seed workload replayed into `db` (a fresh state: a file or a postgresql:// URL):
    requests/s of each part and overall (replay's own seconds)."""
    refcamp(db, "campaign", "activate", "medium-referral")
    registered, closed = seed_workload(db, n, scratch)
    for summary in (registered, closed):
        assert summary["failed"] == 0 and summary["applied"] == n, summary
    seconds = registered["seconds"] + closed["seconds"]
    return {
        "registrations": rate(registered),
        "closes": rate(closed),
        "overall": (registered["applied"] + closed["applied"]) / seconds,
    }


def replays(cluster: Cluster, scratch: Path, n: int, rounds: int) -> dict[str, list[Figures]]:
    """R rounds of both, alternating which goes first: each engine's figures per round."""
    results: dict[str, list[Figures]] = {"postgresql": [], "sqlite": []}
    for r in range(rounds):
        order = ["postgresql", "sqlite"] if r % 2 == 0 else ["sqlite", "postgresql"]
        for engine in order:
            directory = scratch / f"replay{r}-{engine}"
            directory.mkdir()
            db = cluster.url() if engine == "postgresql" else str(directory / "bench.db")
            results[engine].append(replay_run(db, directory, n))
            shutil.rmtree(directory)
        for engine in ("postgresql", "sqlite"):
            figures = results[engine][r]
            parts = "  ".join(f"{kind} {figures[kind]:7,.0f}/s" for kind in KINDS)
            print(f"  round {r + 1}: {engine:10} {parts}", flush=True)
        figures = ratio(results["postgresql"][r], results["sqlite"][r])
        print(f"  round {r + 1}: PostgreSQL/SQLite " + shown(figures), flush=True)
    return results


KINDS = ("registrations", "closes", "overall")


def ratio(pg: Figures, lite: Figures) -> Figures:
    return {kind: pg[kind] / lite[kind] for kind in KINDS}


def shown(figures: Figures) -> str:
    return " ".join(f"{kind} {figures[kind]:.2f}" for kind in KINDS)


# --- (ii) serve on PostgreSQL with 1, 2, 4 processes ---------------------------------------------


def drive(ports: list[int], n: int, clients: int) -> dict:
    """n registrations and n closes from `clients` processes, client c on ports[c mod len]:
    requests/s from the first request sent to the last answer, and every status."""
    context = multiprocessing.get_context("fork")  # as serve_throughput: the client needs no import
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    shares = [n // clients + (1 if c < n % clients else 0) for c in range(clients)]
    procs = [
        context.Process(
            target=client, args=(ports[c % len(ports)], f"C{c}", share, 1, barrier, results)
        )
        for c, share in enumerate(shares)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=600)  # go
    barrier.wait(timeout=3600)  # done
    got = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    statuses: dict[int, int] = {}
    for g in got:
        for status, count in g["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    latencies = sorted(x for g in got for x in g["latencies"])
    seconds = max(g["ended"] for g in got) - min(g["started"] for g in got)
    return {
        "rate": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
        "accepted": sum(g["accepted"] for g in got),
    }


def serve_run(cluster: Cluster, scratch: Path, processes: int, n: int, clients: int) -> dict:
    """`processes` servers on a fresh PostgreSQL state, driven by `clients` clients."""
    url = cluster.url()
    refcamp(url, "campaign", "activate", "medium-referral")
    command = [sys.executable, "-m", "refcamp", "serve", "--port", "0", "--api-key", KEY]
    servers: list[Server] = []
    try:
        for p in range(processes):
            servers.append(start(command, env(url), scratch / f"serve-{processes}-{p}.log"))
        figures = drive([s.port for s in servers], n, clients)
    finally:
        for server in servers:
            stopped(server)
    assert figures["statuses"] == {200: 2 * n}, figures["statuses"]
    assert figures["accepted"] == n, figures["accepted"]
    return figures


def serves(
    cluster: Cluster, scratch: Path, n: int, rounds: int, counts: list[int], clients: int
) -> dict[int, list[dict]]:
    results: dict[int, list[dict]] = {k: [] for k in counts}
    for r in range(rounds):
        order = counts if r % 2 == 0 else list(reversed(counts))
        for k in order:
            results[k].append(serve_run(cluster, scratch, k, n, clients))
        for k in counts:
            f = results[k][r]
            print(
                f"  round {r + 1}: {k} process(es) {f['rate']:7,.0f} requests/s, "
                f"p50 {f['p50'] * 1000:6.2f} ms, p99 {f['p99'] * 1000:6.2f} ms, "
                f"x{f['rate'] / results[counts[0]][r]['rate']:.2f} of {counts[0]}",
                flush=True,
            )
    return results


# --- the run -------------------------------------------------------------------------------------


def main(
    replay_n: int = 2000,
    serve_n: int = 1000,
    rounds: int = 2,
    counts: tuple[int, ...] = (1, 2, 4),
    clients: int = 8,
) -> dict:
    began = time.monotonic()
    print(
        f"PostgreSQL bench: {os.cpu_count()} core(s); replay {replay_n:,} + {replay_n:,}; serve "
        f"{serve_n:,} + {serve_n:,} per run, {clients} clients; {rounds} round(s)",
        flush=True,
    )
    cluster = Cluster()
    try:
        with scratch_dir() as name:
            scratch = Path(name)
            print("(i) refcamp replay, the seed workload, PostgreSQL vs SQLite:", flush=True)
            replayed = replays(cluster, scratch, replay_n, rounds)
            print(f"(ii) refcamp serve on PostgreSQL, {list(counts)} processes:", flush=True)
            served = serves(cluster, scratch, serve_n, rounds, list(counts), clients)
    finally:
        cluster.stop()

    print(f"over {rounds} round(s), min–max:")
    each = [ratio(pg, lite) for pg, lite in zip(*replayed.values(), strict=True)]
    parts = ", ".join(f"{kind} {spread([f[kind] for f in each], '.2f')}" for kind in KINDS)
    print(f"replay PostgreSQL/SQLite: {parts}")
    base = counts[0]
    for k in counts[1:]:
        each = [s["rate"] / b["rate"] for s, b in zip(served[k], served[base], strict=True)]
        print(f"serve {k} processes / {base}: {spread(each, '.2f')}")
    for engine, figures in replayed.items():
        overall = spread([f["overall"] for f in figures], ",.0f")
        print(f"  replay into {engine}: {overall} requests/s overall")
    for k in counts:
        print(
            f"  serve {k} process(es): {spread([f['rate'] for f in served[k]], ',.0f')} "
            f"requests/s, p99 {spread([f['p99'] * 1000 for f in served[k]], '.1f')} ms"
        )
    print(f"({time.monotonic() - began:.0f} s)")
    return {"replay": replayed, "serve": served}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", type=int, default=2000, help="seed workload size N")
    parser.add_argument("--serve", type=int, default=1000, help="registrations (= closes) per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", default="1,2,4", help="server counts, comma-separated")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    counts = tuple(int(k) for k in args.processes.split(","))
    main(args.replay, args.serve, args.rounds, counts, args.clients)
