"""A real `refcamp serve` in a subprocess, and a small HTTP client for it (tests import these)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from refcamp.paths import location
from refcamp.store.db import connect

KEY = "test-key"
STARTED = re.compile(r"http://127\.0\.0\.1:(\d+)")


@dataclass
class Reply:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    headers: dict[str, str]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    key: str = KEY

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        key: str | None = None,
        timeout: float = 30,
    ) -> Reply:
        """One request on a new connection; `raw` sends bytes as they are."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = {"Content-Type": "application/json"}
            sent["Authorization"] = f"ApiKey-v1 {self.key if key is None else key}"
            sent.update(headers or {})
            data = raw if raw is not None else None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={k: v for k, v in sent.items() if v})
            response = conn.getresponse()
            text = response.read()
            parsed = json.loads(text) if text else None
            return Reply(response.status, parsed, dict(response.getheaders()))
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Stop the server; its exit code and what it said on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        err = self.process.stderr.read().decode() if self.process.stderr else ""
        return self.process.returncode, err


def start(
    *args: str, env: dict[str, str] | None = None, key: str = KEY, options: tuple[str, ...] = ()
) -> Server:
    """Start `refcamp [args] serve --port 0 [options]` and wait until it listens."""
    return listening(spawn(*args, env=env, key=key, options=options), key)


def start_many(count: int, *args: str, env: dict[str, str] | None = None) -> list[Server]:
    """`count` servers as `start` starts one, all starting at once (then each waited for)."""
    processes = [spawn(*args, env=env) for _ in range(count)]
    servers = []
    try:
        for process in processes:
            servers.append(listening(process, KEY))
    except BaseException:
        for process in processes[len(servers) :]:
            process.kill()
            process.wait()
        for server in servers:
            server.stop()
        raise
    return servers


def spawn(
    *args: str, env: dict[str, str] | None = None, key: str = KEY, options: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """The `refcamp [args] serve --port 0 [options]` process, not yet waited for."""
    command = [
        sys.executable, "-m", "refcamp", *args, "serve", "--port", "0", "--api-key", key, *options,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def listening(process: subprocess.Popen[bytes], key: str) -> Server:
    """The server `process` once it says where it listens (it is killed if it does not)."""
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line or process.poll() is not None:
            break
    found = STARTED.search(line.decode())
    if found is None:
        process.kill()
        raise AssertionError(f"refcamp serve did not start: {line!r} {process.stderr.read()!r}")
    return Server(process, int(found.group(1)), key)


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start(*args, env=env)
    try:
        yield server
    finally:
        server.stop()


def refcamp(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    """The real refcamp command in a subprocess: (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "refcamp", *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def state_file() -> str:
    """Where the state is: a file's path, or a PostgreSQL URL (never wrapped in a Path, which
    would turn postgresql:// into postgresql:/)."""
    return os.environ["REFCAMP_DB"]


def stored_sessions(where: str) -> dict[str, tuple[str, int, int]]:
    """One read of the state (a file or a PostgreSQL URL): session id -> (state, ledger entries,
    points booked)."""
    with closing(connect(location(where))) as conn:
        rows = conn.execute(
            "SELECT s.id, s.state, count(l.id), coalesce(sum(l.amount), 0) "
            "FROM sessions AS s LEFT JOIN ledger AS l ON l.session_id = s.id GROUP BY s.id"
        ).fetchall()
    return {sid: (state, entries, points) for sid, state, entries, points in rows}
