"""refcamp db: the state file."""

from __future__ import annotations

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
        render.print_json({"path": str(where), "exists": where.exists()})
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
