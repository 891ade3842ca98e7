"""`refcamp replay` attacked: a full disk, a log that grows or changes its line endings, a kill -9
with --out, other commands writing while a long replay runs, a killed reader, Ctrl-C, and paths
with broken percent-encoding.

The replays here run as real processes on real state files. Most lines are events that award a
review's points to one customer, so exactly-once is a balance: 20 points per line applied, no
more, no less, and `db check` clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from conftest import check_db, open_state, program_of
from test_faults import committed_lines

Run = Callable[..., Any]  # conftest's `run` fixture

TIMEOUT = 180  # seconds any one child may take before the test gives up on it
POINTS = 20  # a review's points

REVIEWS = """
[campaign]
id = "reviews"
name = "Points for reviews"
features = ["loyalty"]

[[loyalty_program]]
id = "review-wallet"
name = "Review wallet"

[[rules]]
name = "Points for a review"
when = [{ event = "review_posted" }]
[[rules.then]]
effect = "add_loyalty_points"
program = "review-wallet"
points = 20
reason = "Thanks for the review"
"""


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def reviews(run: Run, campaigns_dir: Path) -> Run:
    """The reviews campaign, active: every review_posted event awards 20 points."""
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    result = run("campaign", "activate", "reviews")
    assert result.exit_code == 0, result
    return run


def event(profile: str = "P", **attributes: Any) -> str:
    body = {"profileId": profile, "type": "review_posted", "attributes": attributes}
    return json.dumps({"path": "/v2/events", "method": "POST", "body": body})


def profile(name: str) -> str:
    return json.dumps({"path": f"/v2/customer_profiles/{name}", "body": {"attributes": {}}})


def write_lines(path: Path, lines: list[str], ending: bytes = b"\n", last: bool = True) -> Path:
    data = ending.join(line.encode() for line in lines)
    path.write_bytes(data + (ending if last and lines else b""))
    return path


def refcamp(*args: str, db: str | Path | None = None, **popen: Any) -> subprocess.Popen[str]:
    """`python -m refcamp ARGS` as a real process, with this test's environment."""
    env = dict(os.environ)
    if db is not None:
        env["REFCAMP_DB"] = str(db)
    return subprocess.Popen(
        [sys.executable, "-m", "refcamp", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


@contextlib.contextmanager
def running(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """A child that is killed if the test fails while it runs."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_for(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the replay never got there"
        time.sleep(0.01)


def points(run: Run, who: str = "P", *options: str) -> int:
    shown = run(*options, "loyalty", "balance", who, "--json")
    if shown.exit_code == 1:  # no such customer: nothing awarded
        return 0
    assert shown.exit_code == 0, shown
    return program_of(shown.json, "review-wallet")["ledger"]["currentBalance"]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


def progress(where: str) -> int:
    """How far a running replay got in the state at `where` (its progress commits with each
    batch): the file read-only as test_faults reads it, or the PostgreSQL schema."""
    if not where.startswith("postgresql://"):
        return committed_lines(Path(where))
    with contextlib.closing(open_state(where)) as conn:
        row = conn.execute("SELECT coalesce(max(lines), 0) FROM replays").fetchone()
    return int(row[0])


def long_log(engine: str, lines: int) -> int:
    """How many lines a long log has on this engine. On PostgreSQL every statement is a round
    trip to the server, and a replay goes at a few hundred lines a second on a busy test machine:
    fewer lines (still batches past the point where a test stops the replay) keep each child in
    its time limit."""
    return lines if engine == "sqlite" else min(lines, 4_000)


def out_lines(path: Path) -> list[int]:
    return [json.loads(text)["line"] for text in path.read_text(encoding="utf-8").splitlines()]


# --- item 2: a full disk -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, to fill up (Linux, as root)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of the file system `folder` is on."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    return filler


@pytest.mark.slow
@pytest.mark.sqlite_only  # a SQLite state file on a file system that fills up
def test_a_disk_that_fills_up_stops_the_replay_and_the_rerun_applies_exactly_the_rest(
    reviews: Run, small_disk: Path, tmp_path: Path
) -> None:
    db = small_disk / "state.db"
    assert reviews("--db", str(db), "campaign", "activate", "reviews").exit_code == 0
    total = 30_000
    source = write_lines(tmp_path / "reviews.jsonl", [event() for _ in range(total)])
    with running(refcamp("replay", str(source), "--json", db=db)) as proc:
        wait_for(proc, lambda: committed_lines(db) >= 2000)
        filler = fill(small_disk)
        code, out, err = finish(proc)
    assert code == 1, (out, err)
    message = one_line(err)
    assert "disk full" in message, message
    assert "run the same command again" in message, message
    filler.unlink()

    done = committed_lines(db)
    assert 2000 <= done < total, done
    assert f"lines 1-{done} " in message, message
    assert points(reviews, "P", "--db", str(db)) == POINTS * done
    check_db(reviews, "--db", str(db))

    code, out, err = finish(refcamp("replay", str(source), "--json", db=db))
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["skipped"], summary["applied"], summary["failed"]) == (done, total - done, 0)
    assert points(reviews, "P", "--db", str(db)) == POINTS * total
    check_db(reviews, "--db", str(db))


@pytest.mark.sqlite_only  # SQLite's max_page_count caps the state file's size
def test_a_line_the_state_file_has_no_room_for_is_not_done(
    reviews: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's max_page_count caps the state file (for this connection only): SQLITE_FULL at the
    # big line, wherever the test runs, without a file system to fill.
    from refcamp.service import workspace

    real = workspace.connect

    def capped(path: Path, **options: Any) -> sqlite3.Connection:
        conn = real(path, **options)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 40}")
        return conn

    monkeypatch.setattr(workspace, "connect", capped)
    lines = [event() for _ in range(10)] + [event(blob="x" * 600_000)] + [event() for _ in range(9)]
    source = write_lines(tmp_path / "reviews.jsonl", lines)
    out = tmp_path / "out.jsonl"
    stopped = reviews("replay", str(source), "--out", str(out))
    assert stopped.exit_code == 1, stopped
    message = one_line(stopped.stderr)
    assert "line 11" in message and "disk full" in message, message
    done = committed_lines(Path(os.environ["REFCAMP_DB"]))
    assert done < 11
    assert points(reviews) == POINTS * done
    assert out_lines(out) == list(range(1, done + 1))

    monkeypatch.setattr(workspace, "connect", real)
    resumed = reviews("replay", str(source), "--out", str(out), "--json")
    assert resumed.exit_code == 0, resumed
    assert (resumed.json["skipped"], resumed.json["applied"]) == (done, 20 - done)
    assert points(reviews) == POINTS * 20
    assert out_lines(out) == list(range(1, 21))
    check_db(reviews)


# --- item 4: what identifies a log ---------------------------------------------------------------


def test_a_log_that_grew_applies_only_its_new_lines(reviews: Run, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "log.jsonl", [event(n=i) for i in range(5)])
    assert reviews("replay", str(source)).exit_code == 0
    assert points(reviews) == POINTS * 5
    with source.open("ab") as handle:
        handle.write((event(n=5) + "\n" + event(n=6) + "\n").encode())
    grown = reviews("replay", str(source), "--json")
    assert grown.exit_code == 0, grown
    assert (grown.json["skipped"], grown.json["applied"]) == (5, 2)
    assert points(reviews) == POINTS * 7
    again = reviews("replay", str(source), "--json")
    assert (again.json["skipped"], again.json["applied"]) == (7, 0)
    assert points(reviews) == POINTS * 7
    check_db(reviews)


@pytest.mark.parametrize(
    ("ending", "last", "extra"),
    [
        (b"\r\n", True, 0),  # the same log with CRLF line endings
        (b"\n", False, 0),  # without its final newline
        (b"\r\n", False, 0),  # both
        (b"\r\n", True, 2),  # with CRLF, and grown by two lines
        (b"\n", False, 2),  # grown, its new last line without a newline
    ],
)
def test_line_endings_do_not_make_another_log(
    reviews: Run, tmp_path: Path, ending: bytes, last: bool, extra: int
) -> None:
    lines = [event(n=i) for i in range(6)]
    lines.insert(3, "")  # a blank line is a line too
    first = write_lines(tmp_path / "lf.jsonl", lines)
    assert reviews("replay", str(first)).exit_code == 0
    assert points(reviews) == POINTS * 6
    more = [event(n=10 + i) for i in range(extra)]
    variant = write_lines(tmp_path / "variant.jsonl", lines + more, ending, last)
    result = reviews("replay", str(variant), "--json")
    assert result.exit_code == 0, result
    assert (result.json["skipped"], result.json["applied"]) == (6, extra)
    assert points(reviews) == POINTS * (6 + extra)
    check_db(reviews)


@pytest.mark.parametrize("change", ["edited", "truncated", "another log"])
def test_a_log_whose_replayed_lines_changed_is_refused(
    reviews: Run, tmp_path: Path, change: str
) -> None:
    lines = [event(n=i) for i in range(5)]
    source = write_lines(tmp_path / "log.jsonl", lines)
    assert reviews("replay", str(source)).exit_code == 0
    if change == "edited":
        lines[2] = event(n=99)
    elif change == "truncated":
        lines = lines[:3]
    else:  # a log that starts as the first one did
        lines = lines[:1] + [event(n=50 + i) for i in range(6)]
    write_lines(source, lines)
    refused = reviews("replay", str(source))
    assert refused.exit_code == 2, refused
    message = one_line(refused.stderr)
    assert "--new-log" in message and str(source) in message, message
    assert points(reviews) == POINTS * 5

    forced = reviews("replay", str(source), "--new-log", "--json")
    assert forced.exit_code == 0, forced
    assert (forced.json["skipped"], forced.json["applied"]) == (0, len(lines))
    assert points(reviews) == POINTS * (5 + len(lines))
    # Both logs are known now: each resumes, neither applies anything again.
    for again in (source, write_lines(tmp_path / "first.jsonl", [event(n=i) for i in range(5)])):
        result = reviews("replay", str(again), "--json")
        assert result.exit_code == 0, result
        assert result.json["applied"] == 0, again
    assert points(reviews) == POINTS * (5 + len(lines))
    check_db(reviews)


@pytest.mark.slow
def test_two_replays_of_one_log_at_once_apply_it_once(
    reviews: Run, tmp_path: Path, engine: str
) -> None:
    total = long_log(engine, 8000)
    source = write_lines(tmp_path / "log.jsonl", [event(n=i) for i in range(total)])
    procs = [refcamp("replay", str(source), "--json") for _ in range(2)]
    results = [finish(proc) for proc in procs]
    for code, _, err in results:
        assert code in (0, 1), err
        if code == 1:
            assert "another replay" in one_line(err), err
    # Whatever was refused, a rerun finishes: every line once in total.
    code, out, err = finish(refcamp("replay", str(source), "--json"))
    assert code == 0, err
    assert json.loads(out)["skipped"] + json.loads(out)["applied"] == total
    assert points(reviews) == POINTS * total
    check_db(reviews)


# --- item 5: --out after a kill ------------------------------------------------------------------


@pytest.mark.slow
def test_out_after_a_kill_and_a_rerun_holds_one_response_per_line(
    reviews: Run, tmp_path: Path, state_url: str, engine: str
) -> None:
    db = state_url
    total = long_log(engine, 10_000)
    source = write_lines(tmp_path / "log.jsonl", [event(n=i) for i in range(total)])
    out = tmp_path / "out.jsonl"
    with running(refcamp("replay", str(source), "--out", str(out), "--json")) as proc:
        wait_for(proc, lambda: progress(db) >= 3000)
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    done = progress(db)
    assert done < total
    code, _, err = finish(refcamp("replay", str(source), "--out", str(out), "--json"))
    assert code == 0, err
    assert out_lines(out) == list(range(1, total + 1))
    assert points(reviews) == POINTS * total
    check_db(reviews)


# --- item 7: other commands while a replay runs --------------------------------------------------

# A shell loop's worth of CLI commands, each timed, until the stop file appears.
TURNS = 3  # commands each loop runs while the replay goes on
LOOP = """
import json, subprocess, sys, time
turns, kind, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
timings = []
for i in range(turns):
    if kind == "event":
        args = ["event", "track", "review_posted", "--profile", prefix]
    else:
        args = ["profile", "update", f"{prefix}{i}", "--attr", f"n={i}", "-q"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "refcamp", *args], capture_output=True, text=True)
    timings.append([done.returncode, time.monotonic() - started, done.stderr.strip()])
print(json.dumps(timings))
"""


class Feed(threading.Thread):
    """Writes review lines into a replay's stdin, always ahead of it (the pipe is full), until
    told to stop: the replay lasts as long as the test needs, however fast this machine is."""

    def __init__(self, stdin: IO[str]) -> None:
        super().__init__(daemon=True)
        self.stdin, self.lines, self.done = stdin, 0, threading.Event()

    def run(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # the replay died: the test reports it
            while not self.done.is_set():
                chunk = [event(n=self.lines + i) for i in range(500)]
                self.stdin.write("\n".join(chunk) + "\n")
                self.lines += len(chunk)

    def stop(self) -> int:
        self.done.set()
        self.join(TIMEOUT)
        return self.lines


@pytest.mark.slow
def test_commands_run_alongside_a_long_replay_never_fail_nor_wait_long(
    reviews: Run, tmp_path: Path, engine: str
) -> None:
    replay = refcamp("replay", "-", "--json", stdin=subprocess.PIPE)
    with running(replay):
        assert replay.stdin is not None
        feed = Feed(replay.stdin)
        feed.start()
        wait_for(replay, lambda: points(reviews) > 0)
        loops = [
            subprocess.Popen(
                [sys.executable, "-c", LOOP, str(TURNS), kind, prefix],
                stdout=subprocess.PIPE,
                text=True,
            )
            for kind, prefix in (("event", "Q"), ("profile", "R"))
        ]
        timings = [json.loads(loop.communicate(timeout=TIMEOUT)[0]) for loop in loops]
        # Every command ran while the replay was still writing: it stops only now.
        assert replay.poll() is None, finish(replay)
        total = feed.stop()
        code, _, err = finish(replay)
    assert code == 0, err
    commands = [t for loop in timings for t in loop]
    assert len(commands) == 2 * TURNS, timings
    assert [t for t in commands if t[0] != 0] == []
    slowest = max(seconds for _, seconds, _ in commands)
    assert slowest < 10, sorted(seconds for _, seconds, _ in commands)
    assert points(reviews) == POINTS * total
    assert points(reviews, "Q") == POINTS * TURNS
    check_db(reviews)


# --- item 10: a killed reader, Ctrl-C ------------------------------------------------------------


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_killed_reader_process_is_reported_and_the_rerun_resumes(
    reviews: Run, tmp_path: Path, state_url: str, engine: str
) -> None:
    from refcamp.replay import _cores

    if _cores() < 2:
        pytest.skip("on one core the file is read by the replaying process itself")
    db = state_url
    total = long_log(engine, 10_000)
    source = write_lines(tmp_path / "log.jsonl", [event(n=i) for i in range(total)])
    with running(refcamp("replay", str(source), "--json")) as proc:
        wait_for(proc, lambda: progress(db) >= 2000)
        (reader,) = children(proc.pid)
        os.kill(reader, signal.SIGKILL)
        code, _, err = finish(proc)
    assert code == 1, err
    message = one_line(err)
    assert "reading" in message and "stopped" in message, message
    done = progress(db)
    assert f"lines 1-{done} " in message and "run the same command again" in message, message
    assert points(reviews) == POINTS * done

    code, out, err = finish(refcamp("replay", str(source), "--json"))
    assert code == 0, err
    assert (json.loads(out)["skipped"], json.loads(out)["applied"]) == (done, total - done)
    assert points(reviews) == POINTS * total
    check_db(reviews)


@pytest.mark.slow
def test_ctrl_c_says_where_the_replay_stopped_and_the_rerun_resumes(
    reviews: Run, tmp_path: Path, state_url: str, engine: str
) -> None:
    db = state_url
    total = long_log(engine, 10_000)
    source = write_lines(tmp_path / "log.jsonl", [event(n=i) for i in range(total)])
    with running(refcamp("replay", str(source), "--json")) as proc:
        wait_for(proc, lambda: progress(db) >= 2000)
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc)
    assert code == 130, err
    message = one_line(err)
    done = progress(db)
    assert "interrupted" in message, message
    assert f"lines 1-{done} " in message and "run the same command again" in message, message
    assert points(reviews) == POINTS * done

    code, out, err = finish(refcamp("replay", str(source), "--json"))
    assert code == 0, err
    assert (json.loads(out)["skipped"], json.loads(out)["applied"]) == (done, total - done)
    assert points(reviews) == POINTS * total
    check_db(reviews)


def test_ctrl_c_while_stdin_is_quiet_commits_what_came_and_says_so(
    reviews: Run, isolated: Path
) -> None:
    proc = refcamp("replay", "-", stdin=subprocess.PIPE)
    with running(proc):
        assert proc.stdin is not None
        proc.stdin.write("".join(event(n=i) + "\n" for i in range(3)))
        proc.stdin.flush()
        # The three requests are committed while the stream is quiet: no lock is held waiting.
        wait_for(proc, lambda: points(reviews) == POINTS * 3)
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc)
    assert code == 130, err
    message = one_line(err)
    assert "interrupted" in message and "lines 1-3 " in message, message
    assert points(reviews) == POINTS * 3
    check_db(reviews)


# --- from item 12: broken percent-encoding -------------------------------------------------------


@pytest.mark.parametrize("path", ["Z%ZZ", "Z%C3%28", "Z%", "Z%4", "%FF"])
def test_a_path_with_broken_percent_encoding_is_a_bad_line(
    reviews: Run, tmp_path: Path, path: str
) -> None:
    lines = [
        json.dumps({"path": f"/v2/customer_profiles/{path}", "body": {"attributes": {}}}),
        profile("GOOD"),
    ]
    source = write_lines(tmp_path / "log.jsonl", lines)
    result = reviews("replay", str(source), "--json")
    assert result.exit_code == 1, result
    (failure,) = result.json["failures"]
    assert failure["line"] == 1 and "percent-encod" in failure["error"], failure
    assert result.json["applied"] == 1
    with contextlib.closing(open_state(os.environ["REFCAMP_DB"])) as conn:
        assert [tuple(row) for row in conn.execute("SELECT id FROM profiles")] == [("GOOD",)]
