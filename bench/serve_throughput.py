"""`refcamp serve` on the seed workload: N registrations, then N closed sessions bringing their
codes, sent over HTTP by 4 client processes on persistent connections (http.client, keep-alive).
Side by side in the same run: `refcamp replay` of the same workload into a fresh state file, and a
bare Starlette app on uvicorn (the same uvicorn settings) answering a constant JSON body to the
same 4 clients (target: serve at least 0.5x replay's requests/s).

    python bench/serve_throughput.py [N]           (default N = 10000, i.e. 20,000 requests)
    python bench/serve_throughput.py --memory N    (N requests, default 200000, the server's RSS
                                                    sampled every 10,000: is memory flat?)
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from common import env, refcamp, scratch_dir, seed_workload
from workload import closes, registrations

TARGET = 0.5  # serve / replay, requests/s
FLAT = 1.2  # memory is flat when the largest sample is at most this times the first
CLIENTS = 4
SAMPLE_EVERY = 10_000  # requests between two RSS samples (--memory)
KEY = "bench-key"
STARTED = re.compile(r"http://127\.0\.0\.1:(\d+)")

# The baseline: Starlette on uvicorn with the settings `refcamp serve` uses (httptools, uvloop when
# installed, log_level warning, lifespan off, keep-alive 5 s, no server header), reading the body
# and answering one constant JSON body to any path.
BARE = """
import json, socket, sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = json.dumps({"effects": [], "createdReferrals": [], "createdCoupons": []})


async def constant(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", constant, methods=["GET", "PUT", "POST"])])
listener = socket.create_server(("127.0.0.1", 0))
print(f"bare: http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
config = uvicorn.Config(
    app,
    http="httptools",
    log_level="warning",
    lifespan="off",
    timeout_keep_alive=5,
    timeout_graceful_shutdown=30,
    server_header=False,
)
uvicorn.Server(config).run(sockets=[listener])
"""


# --- servers -------------------------------------------------------------------------------------


def start(command: list[str], environment: dict[str, str], log: Path) -> Server:
    """Start a server that prints its URL on its first line; its stderr goes to `log`."""
    with log.open("w") as err:
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=err, text=True
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = STARTED.search(line)
    if found is None:
        process.kill()
        raise SystemExit(f"{' '.join(command[:4])} did not start: {line!r}\n{log.read_text()}")
    return Server(process, int(found.group(1)), log)


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def stop(self) -> int:
        """SIGTERM, as a user would stop it; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def serve(scratch: Path, name: str) -> Server:
    db = scratch / f"{name}.db"
    refcamp(db, "campaign", "activate", "medium-referral")
    command = [sys.executable, "-m", "refcamp", "serve", "--port", "0", "--api-key", KEY]
    return start(command, env(db), scratch / f"{name}.log")


def stopped(server: Server) -> None:
    """Stop `refcamp serve`, which must exit 0 with nothing to say but that it stopped."""
    code = server.stop()
    said = server.log.read_text().strip().splitlines()
    if code != 0 or len(said) != 1 or "stopped" not in said[0]:
        raise SystemExit(f"refcamp serve exited {code}:\n" + "\n".join(said))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


# --- clients -------------------------------------------------------------------------------------


def requests(line: str) -> tuple[str, bytes]:
    """A workload line (path, query, body) as what goes on the wire: the target and the body."""
    request = json.loads(line)
    query = request.get("query")
    target = request["path"] + (f"?{urlencode(query)}" if query else "")
    return target, json.dumps(request["body"]).encode()


def client(port: int, name: str, count: int, rounds: int, barrier, results) -> None:
    """Per round: `count` registrations, then `count` closed sessions bringing the codes they got,
    between two barriers; then puts its statuses, latencies and times on `results`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.connect()
    headers = {"Content-Type": "application/json", "Authorization": f"ApiKey-v1 {KEY}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0

    def put(target: str, body: bytes) -> bytes:
        began = time.perf_counter()
        conn.request("PUT", target, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()
        latencies.append(time.perf_counter() - began)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        return text

    started = ended = 0.0
    for round_ in range(rounds):
        prefix = f"{name}R{round_}-"
        signup = [requests(line) for line in registrations(count, prefix + "ADV")]
        barrier.wait()  # the round starts
        if round_ == 0:
            started = time.perf_counter()
        codes = []
        for target, body in signup:
            created = json.loads(put(target, body)).get("createdReferrals") or [{}]
            codes.append(created[0].get("code", "NONE-NONE"))  # the bare app makes none
        for line in closes(codes, prefix + "FRIEND"):
            effects = json.loads(put(*requests(line))).get("effects", [])
            accepted += any(e["effectType"] == "acceptReferral" for e in effects)
        ended = time.perf_counter()
        barrier.wait()  # the round is over
    conn.close()
    results.put(
        {"latencies": latencies, "statuses": statuses, "accepted": accepted,
         "started": started, "ended": ended}
    )  # fmt: skip


def drive(port: int, n: int, rounds: int = 1, between=None) -> dict:
    """The workload from CLIENTS processes, n registrations and n closes per round in all;
    `between(requests so far)` runs after each round, while the clients wait."""
    # fork: the clients need nothing but this module's functions, and `spawn` would re-run
    # bench/run.py, which has no main guard.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(CLIENTS + 1)
    results = context.Queue()
    shares = [n // CLIENTS + (1 if c < n % CLIENTS else 0) for c in range(CLIENTS)]
    procs = [
        context.Process(target=client, args=(port, f"C{c}", share, rounds, barrier, results))
        for c, share in enumerate(shares)
    ]
    for proc in procs:
        proc.start()
    for round_ in range(rounds):
        barrier.wait(timeout=600)  # the round starts
        barrier.wait(timeout=3600)  # the round is over: the clients wait for the next one
        if between is not None:
            between(2 * n * (round_ + 1))
    got = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(x for g in got for x in g["latencies"])
    statuses: dict[int, int] = {}
    for g in got:
        for status, count in g["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    seconds = max(g["ended"] for g in got) - min(g["started"] for g in got)
    return {
        "requests": len(latencies),
        "rate": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
        "accepted": sum(g["accepted"] for g in got),
    }


def shown(figures: dict) -> str:
    return (
        f"{figures['rate']:8,.0f} requests/s, p50 {figures['p50'] * 1000:5.2f} ms, "
        f"p99 {figures['p99'] * 1000:5.2f} ms ({figures['requests']} requests)"
    )


# --- the two runs --------------------------------------------------------------------------------


def main(n: int) -> float:
    with scratch_dir() as scratch:
        # (a) refcamp replay of the same workload, into its own fresh state file.
        replay_db = Path(scratch) / "replay.db"
        refcamp(replay_db, "campaign", "activate", "medium-referral")
        registered, closed = seed_workload(replay_db, n, Path(scratch))
        assert registered["failed"] == 0 and closed["failed"] == 0
        replayed = (registered["applied"] + closed["applied"]) / (
            registered["seconds"] + closed["seconds"]
        )

        server = serve(Path(scratch), "serve")
        try:
            ours = drive(server.port, n)
        finally:
            stopped(server)
        assert ours["statuses"] == {200: 2 * n}, ours["statuses"]
        assert ours["accepted"] == n, ours["accepted"]

        # (b) the bare app, driven by the same clients with the same requests.
        bare_script = Path(scratch) / "bare.py"
        bare_script.write_text(BARE)
        command = [sys.executable, str(bare_script)]
        server = start(command, env(Path(scratch) / "bare.db"), Path(scratch) / "bare.log")
        try:
            bare = drive(server.port, n)
        finally:
            server.stop()
        assert bare["statuses"] == {200: 2 * n}, bare["statuses"]

        print(f"refcamp serve, {CLIENTS} clients: {shown(ours)}")
        print(f"refcamp replay, same workload: {replayed:8,.0f} requests/s")
        print(f"bare Starlette on uvicorn:     {shown(bare)}")
        # Not "ratio ...": tests/test_simulate_stats.py counts the lines starting so.
        print(f"serve / replay: {ours['rate'] / replayed:.2f} (target at least {TARGET})")
        print(f"serve / bare:   {ours['rate'] / bare['rate']:.2f}")
        return ours["rate"] / replayed


def memory(total: int) -> float:
    """`total` requests of the seed workload, the server's RSS sampled every SAMPLE_EVERY."""
    rounds = max(1, -(-total // SAMPLE_EVERY))
    samples: list[tuple[int, int]] = []
    with scratch_dir() as scratch:
        server = serve(Path(scratch), "memory")
        pid = server.process.pid
        try:
            started = rss_kib(pid)
            figures = drive(
                server.port,
                SAMPLE_EVERY // 2,
                rounds,
                between=lambda done: samples.append((done, rss_kib(pid))),
            )
        finally:
            stopped(server)
    assert figures["statuses"] == {200: figures["requests"]}, figures["statuses"]
    first, last = samples[0][1], samples[-1][1]
    peak = max(kib for _, kib in samples)
    ratio = peak / first
    print(f"refcamp serve, {figures['requests']:,} requests: {shown(figures)}")
    print(f"RSS at start {started / 1024:.1f} MiB; every {SAMPLE_EVERY:,} requests (MiB):")
    print("  " + " ".join(f"{kib / 1024:.1f}" for _, kib in samples))
    mib = {name: f"{kib / 1024:.1f} MiB" for name, kib in (("first", first), ("last", last))}
    print(f"RSS first {mib['first']}, last {mib['last']}, max {peak / 1024:.1f} MiB")
    verdict = "memory flat" if ratio <= FLAT else "memory grows"
    print(f"max / first: {ratio:.2f} ({verdict}: at most {FLAT} counts as flat)")
    return ratio


if __name__ == "__main__":
    if "--memory" in sys.argv:
        at = sys.argv.index("--memory")
        memory(int(sys.argv[at + 1]) if len(sys.argv) > at + 1 else 200_000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
