"""refcamp db: the state file."""

from __future__ import annotations

import typer

from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json

app = typer.Typer(help="The state file.", no_args_is_help=True)


@app.command("path")
@guarded
def path(ctx: typer.Context, as_json: Json = False) -> None:
    """Print where the state file is (--db, else $REFCAMP_DB, else the user data dir)."""
    from refcamp import render

    where = workspace(ctx).db_path
    if as_json:
        render.print_json({"path": str(where), "exists": where.exists()})
    else:
        render.line(str(where))
