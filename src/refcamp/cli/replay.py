"""refcamp replay: recorded Integration API traffic, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from refcamp import render
from refcamp.cli import guarded, output, workspace
from refcamp.cli.options import Json
from refcamp.replay import Summary, opened, replay_source

ReplayFile = Annotated[
    str, typer.Argument(metavar="FILE|-", help="JSON Lines, one request per line; - for stdin.")
]
OutFile = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help='Write one response per line (the commands\' --json, plus "line").',
        show_default=False,
    ),
]
StopOnError = Annotated[
    bool, typer.Option("--stop-on-error", help="Stop at the first line that fails.")
]
NewLog = Annotated[
    bool,
    typer.Option(
        "--new-log",
        help="Apply every line, as a new log's, even though the file starts with the first "
        "line of a log replayed before whose lines have changed.",
    ),
]
StartOver = Annotated[
    bool,
    typer.Option(
        "--start-over",
        help="Apply every line again, from the first, even those an earlier replay of this "
        "log applied (by default a rerun retries only the lines that failed, then goes on).",
    ),
]


@guarded
def replay(
    ctx: typer.Context,
    source: ReplayFile,
    out: OutFile = None,
    stop_on_error: StopOnError = False,
    new_log: NewLog = False,
    start_over: StartOver = False,
    as_json: Json = False,
) -> None:
    """Replay recorded Integration API requests, each exactly as the matching command would.

    Lines: {"path": "/v2/customer_sessions/S1", "body": {...}, "query": {"dry": "true"},
    "now": "2026-05-01T10:00:00Z"}. Paths: /v2/customer_profiles/ID (rules run with
    query runRuleEngine=true, as in Talon.One), /v2/customer_sessions/ID, /v2/events (POST).
    A bad line is reported and skipped (exit 1 at the end). A log is known by its first line:
    a file replayed before, completely or until it was interrupted, resumes after its last
    applied line, whatever its line endings, and a log that grew applies only its new lines.
    The lines that failed are kept: a rerun retries exactly those (fixed or not), then goes on.
    """
    ws = workspace(ctx)
    with (
        opened(source, sys.stdin.buffer) as src,
        output(ctx).progress("replay", src.total, "", shown=not as_json) as bar,
    ):
        tick = None
        if bar is not None:

            def tick(line: int) -> None:
                bar.update(line, line, force=line == src.total)

        summary, stopped = replay_source(
            ws, src, out, stop_on_error, tick, new_log=new_log, start_over=start_over
        )
    data = summary.as_json()
    if as_json:
        render.print_json(data)
    else:
        _print_summary(summary, data)
    if stopped is not None:
        raise stopped
    if summary.failed:
        raise typer.Exit(1)


def _print_summary(summary: Summary, data: dict[str, Any]) -> None:
    rate = data["requestsPerSecond"]
    render.line(
        f"Replayed {summary.applied} request(s) in {summary.seconds:.2f} s"
        + (f" ({rate:,} requests/s)" if rate else "")
        + (f"; {summary.skipped} line(s) already replayed earlier" if summary.skipped else "")
        + (_retried(summary.retried) if summary.retried else "")
        + (f"; {summary.failed} failed" if summary.failed else "")
        + "."
    )
    rows = [("request", kind, n) for kind, n in sorted(summary.requests.items())]
    rows += [("effect", kind, n) for kind, n in sorted(summary.effects.items())]
    rows += [("rejection", reason, n) for reason, n in sorted(summary.rejections.items())]
    if rows:
        render.table("Summary", ["What", "Kind", "Count"], rows)
    for _line, message in summary.failures[:20]:
        render.note(f"failed: {message}")
    if summary.failed > 20:
        render.note(f"... and {summary.failed - 20} more failures (--json lists up to 1000)")
    if summary.failed:
        render.note(
            "Running the same command again retries exactly the failed lines (fix them in the "
            "file first); --start-over applies every line again."
        )


def _retried(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:10]) + (", ..." if len(lines) > 10 else "")
    return f"; retried {len(lines)} line(s) that failed before ({shown})"
