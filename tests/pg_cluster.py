"""A real PostgreSQL server for the tests and benchmarks: a cluster made in a temporary
directory, started on a free port, stopped and removed at the end.

It uses the machine's PostgreSQL binaries (initdb, pg_ctl; `.ci/run` installs them where they are
missing). PostgreSQL refuses to run as root, so as root the cluster belongs to `nobody`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

USER = "refcamp"
DATABASE = "refcamp"


def _binaries() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL's binaries (initdb, pg_ctl) are not installed: the tests run every state "
        "on PostgreSQL too (apt-get install postgresql, as .ci/run does)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Set to a file name, the test run writes there each PostgreSQL-leg test's connection count
# (conftest.state_url): those with 0 never touched the state, and are marked stateless.
FIND_STATELESS = "REFCAMP_FIND_STATELESS"


class Cluster:
    """A PostgreSQL server of its own: `url(schema)` names a fresh state in it."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.root = Path(tempfile.mkdtemp(prefix="refcamp-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "nobody")
        self._run(
            f"{self.bin}/initdb -D {self.data} -U {USER} --auth=trust -E UTF8 --locale=C "
            "--no-sync >/dev/null"
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        if os.environ.get(FIND_STATELESS):  # conftest counts each test's connections in the log
            options += " -c log_connections=on"
        self.options = options
        self._run(f"{self.bin}/pg_ctl -D {self.data} -l {self.root}/log -w -o '{options}' start")
        self.sql(f"CREATE DATABASE {DATABASE}", database="postgres")

    def halt(self) -> None:
        """Stop the server at once, as a crash or an operator would (connections are cut)."""
        self._run(f"{self.bin}/pg_ctl -D {self.data} -m immediate -w stop")

    def resume(self) -> None:
        """Start the server again after halt(), on the same port and data."""
        self._run(
            f"{self.bin}/pg_ctl -D {self.data} -l {self.root}/log -w -o '{self.options}' start"
        )

    def _run(self, command: str) -> None:
        if self.as_root:
            argv = ["su", "-s", "/bin/sh", "nobody", "-c", command]
        else:
            argv = ["sh", "-c", command]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{command}: {result.stdout}{result.stderr}")

    def sql(self, statement: str, database: str = DATABASE) -> None:
        import psycopg

        with psycopg.connect(self.base(database), autocommit=True) as conn:
            conn.execute(statement)

    def base(self, database: str = DATABASE) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def url(self, schema: str | None = None) -> str:
        """A URL naming a new, empty schema of its own: one refcamp state."""
        schema = schema or f"t{uuid.uuid4().hex[:16]}"
        self.sql(f"CREATE SCHEMA {schema}")
        return f"{self.base()}?options=-csearch_path%3D{schema}"

    def connections(self) -> int:
        """How many connections the server has accepted so far (with FIND_STATELESS set)."""
        return (self.root / "log").read_text(errors="replace").count("connection authorized")

    def stop(self) -> None:
        """Stop the server (SIGQUIT to the postmaster: nothing here needs keeping) and remove its
        directory, in the background: waiting for the shutdown and the removal of every test's
        schema files showed as 15-20 s of teardown on the last test of each worker."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            pid = 0
        wait = f"while kill -0 {pid} 2>/dev/null; do sleep 0.05; done; " if pid > 0 else ""
        script = f"{wait}rm -rf '{self.root}'"
        subprocess.Popen(
            ["sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
