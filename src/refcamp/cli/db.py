"""refcamp db: the state file."""

from __future__ import annotations

import typer

from refcamp.cli import guarded, workspace

app = typer.Typer(help="The state file.", no_args_is_help=True)


@app.command("path")
@guarded
def path(ctx: typer.Context) -> None:
    """Print where the state file is (--db, else $REFCAMP_DB, else the user data dir)."""
    from refcamp import render

    render.line(str(workspace(ctx).db_path))
