"""The command line: parsing, calling one service function, rendering. No SQL, no rule logic.

Errors raised by the core (RefcampError) become one line on stderr and their exit code; any other
exception is a bug and is reported as one line too, unless REFCAMP_DEBUG=1 asks for the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from refcamp import __version__

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="refcamp",
    help="A Talon.One-style promotion engine on your own machine: campaigns in TOML, state in "
    "SQLite, one command per Integration API request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def debug() -> bool:
    return os.environ.get("REFCAMP_DEBUG", "") not in ("", "0")


def fail(message: str, code: int) -> None:
    sys.stderr.write(f"refcamp: error: {message}\n")
    raise typer.Exit(code)


def guarded(fn: F) -> F:
    """Turn refcamp's errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import sqlite3

        from refcamp.errors import RefcampError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RefcampError as error:
            if debug():
                raise
            fail(str(error), error.exit_code)
        except sqlite3.OperationalError as error:
            if debug():
                raise
            fail(f"database: {error}", 1)
        except BrokenPipeError:
            raise typer.Exit(1) from None
        except Exception as error:
            if debug():
                raise
            fail(
                f"internal error: {type(error).__name__}: {error} "
                "(run with REFCAMP_DEBUG=1 for the traceback)",
                1,
            )

    return wrapper  # type: ignore[return-value]


def workspace(ctx: typer.Context) -> Any:
    from refcamp.service import Workspace

    root = ctx.find_root()
    if not isinstance(root.obj, Workspace):
        root.obj = Workspace()
    return root.obj


def respond(
    ctx: typer.Context,
    resp: Any,
    as_json: bool,
    quiet: bool,
    explain: bool,
    keys: list[str],
) -> None:
    """Print a request's Response: JSON (Talon.One's shape), the key values, or tables."""
    from refcamp import codes, render, talon

    ws = workspace(ctx)
    if codes.seed() and (resp.created_referrals or resp.generated):
        render.note("note: REFCAMP_SEED is set, so generated codes and ids are predictable")
    if as_json:
        catalog = {c.id: c for c in ws.catalog.campaigns}
        data = talon.integration_state(resp, catalog)
        if explain and resp.evaluation is not None:
            data["explanation"] = talon.explanation(resp.evaluation)
        for text in resp.notes:
            render.note(f"note: {text}")
        render.print_json(data)
    elif quiet:
        for text in resp.notes:
            render.note(f"note: {text}")
        for key in keys:
            render.line(key)
    else:
        render.response(resp, explain)


def version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"refcamp {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="State file (else $REFCAMP_DB, else the user data dir).",
            show_default=False,
        ),
    ] = None,
    campaigns: Annotated[
        Path | None,
        typer.Option(
            "--campaigns",
            help="Campaign directory (else $REFCAMP_CAMPAIGNS, else "
            "./campaigns, else the shipped samples).",
            show_default=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Simulated time, ISO 8601 with a zone (else $REFCAMP_NOW).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    from refcamp import codes, render
    from refcamp.service import Workspace

    codes.reset_seed()
    render.reset()
    from refcamp.errors import RefcampError

    ws = Workspace(db, campaigns, now)
    ctx.obj = ws
    ctx.call_on_close(ws.close)
    try:
        _ = ws.now  # a bad --now or REFCAMP_NOW is an error for every command, used or not
    except RefcampError as error:
        fail(str(error), error.exit_code)


def _register() -> None:
    from refcamp.cli import (
        campaign,
        coupon,
        db,
        demo,
        event,
        loyalty,
        profile,
        referral,
        replay,
        session,
        simulate,
    )

    app.add_typer(campaign.app, name="campaign")
    app.add_typer(profile.app, name="profile")
    app.add_typer(session.app, name="session")
    app.add_typer(referral.app, name="referral")
    app.add_typer(coupon.app, name="coupon")
    app.add_typer(event.app, name="event")
    app.add_typer(loyalty.app, name="loyalty")
    app.add_typer(db.app, name="db")
    app.command("demo")(demo.demo)
    app.command("replay")(replay.replay)
    app.command("simulate")(simulate.simulate)


_register()


def main() -> None:
    app(prog_name="refcamp")
