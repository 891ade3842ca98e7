"""refcamp db: the state file (or database): where it is, checking it, copying it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refcamp import render, service
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json

app = typer.Typer(help="The state file.", no_args_is_help=True)


@app.command("path")
@guarded
def path(ctx: typer.Context, as_json: Json = False) -> None:
    """Print where the state file is (--db, else $REFCAMP_DB, else the user data dir)."""
    where = workspace(ctx).db_path
    if as_json:
        # A database's URL is shown without its password; it exists as far as refcamp can tell
        # without connecting.
        exists = where.exists() if isinstance(where, Path) else True
        render.print_json({"path": str(where), "exists": exists})
    else:
        render.line(str(where))


@app.command("check")
@guarded
def check(ctx: typer.Context, as_json: Json = False) -> None:
    """Check the state file: SQLite's integrity check and refcamp's invariants (balances add up,
    code counters match their redemptions and limits, entries point to what exists). Exit 1 when
    anything is wrong, listing each violation."""
    ws = workspace(ctx)
    problems = service.check_state(ws)
    if as_json:
        render.print_json({"path": str(ws.db_path), "ok": not problems, "problems": problems})
    elif problems:
        for problem in problems:
            render.line(problem)
    else:
        render.line(f"{ws.db_path}: ok")
    if problems:
        raise typer.Exit(1)


@app.command("copy")
@guarded
def copy(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="FROM", help="A state file or postgresql:// URL.")
    ],
    target: Annotated[
        str, typer.Argument(metavar="TO", help="A new state file, or an empty database's URL.")
    ],
    as_json: Json = False,
) -> None:
    """Copy a whole state to another place: a SQLite file into PostgreSQL and back (a demo built
    on a laptop becomes the team's shared state). FROM must pass `db check`; TO must be new or
    empty; the copy is checked the same way. Ids, balances and ledger hashes stay as they were."""
    outer = workspace(ctx)
    source_ws = service.Workspace(outer.settings.but(db=source), warn=outer.warn)
    target_ws = service.Workspace(outer.settings.but(db=target), warn=outer.warn)
    try:
        _ = source_ws.stored  # FROM must be there: a mistyped path is no state to copy
        copied = service.copy_state(source_ws, target_ws)
        problems = service.check_state(target_ws)
    finally:
        source_ws.close()
        target_ws.close()
    rows = sum(copied.values())
    if as_json:
        render.print_json(
            {
                "from": str(source_ws.db_path),
                "to": str(target_ws.db_path),
                "rows": copied,
                "ok": not problems,
                "problems": problems,
            }
        )
    else:
        tables = ", ".join(f"{table} {n}" for table, n in copied.items() if n)
        render.line(f"copied {rows} rows from {source_ws.db_path} to {target_ws.db_path}")
        if tables:
            render.line(f"  {tables}")
        for problem in problems:
            render.line(problem)
        if not problems:
            render.line("db check: both ok")
    if problems:
        raise typer.Exit(1)
