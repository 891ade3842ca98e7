"""The command line: parsing, calling one service function, rendering. No SQL, no rule logic.

Errors raised by the core (RefcampError) become one line on stderr and their exit code; any other
exception is a bug and is reported as one line too, unless REFCAMP_DEBUG=1 asks for the traceback.
The commands are built lazily (refcamp.cli.commands; what they take from Typer's private modules
is in refcamp.cli.typer_internals); each run has one Output (refcamp.render),
made by the root callback, that writes its results, notes, errors and progress bars.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from refcamp import __version__, render, talon
from refcamp.cli.commands import NOUNS, Command, Group, Nouns
from refcamp.cli.typer_internals import (
    ClickException,
    NoArgsIsHelpError,
    UsageError,
    get_current_context,
)
from refcamp.errors import InputError, RefcampError
from refcamp.render import Output
from refcamp.service import Response, Workspace
from refcamp.service.request_log import record_after
from refcamp.settings import Settings

__all__ = ["NOUNS", "Command", "Group", "app", "guarded", "main", "respond", "workspace"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    cls=Nouns,
    name="refcamp",
    help="A Talon.One-style promotion engine on your own machine: campaigns in TOML, state in "
    "SQLite, one command per Integration API request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def debug() -> bool:
    """REFCAMP_DEBUG, read here too: an error may come before the settings are built."""
    return os.environ.get("REFCAMP_DEBUG", "") not in ("", "0")


def fail(message: str, code: int, details: Sequence[str] = ()) -> None:
    """The error line and its details on stderr, then exit with `code`."""
    render.output().error(message, details)
    raise typer.Exit(code)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # fails exactly on lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _check_text(options: dict[str, Any]) -> None:
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates, which SQLite cannot store:
    refuse them up front, naming the option."""
    for name, value in options.items():
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str) and not _utf8(text):
                option = name.removeprefix("as_").replace("_", "-")
                raise InputError(f"{option}: not valid UTF-8 text")


def guarded(fn: F) -> F:
    """Turn refcamp's errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _check_text(kwargs)
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RefcampError as error:
            if debug():
                raise
            problems = getattr(error, "problems", None)  # CampaignFileError
            if problems is not None:
                fail(str(error).split("\n", 1)[0], error.exit_code, problems)
            fail(in_options(str(error), getattr(error, "field", None)), error.exit_code)
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


def in_options(message: str, field: str | None) -> str:
    """The service names a request's field ("usage limit: ..."); at the command line a person typed
    an option: name that one ("--usage-limit: ...") when the running command has it."""
    ctx = get_current_context(silent=True) if field else None
    if ctx is None or field is None or not message.startswith(f"{field}:"):
        return message
    for param in ctx.command.params:
        if param.name == field.replace(" ", "_") and param.opts[0].startswith("--"):
            return param.opts[0] + message[len(field) :]
    return message


@dataclass
class Run:
    """What one run of refcamp keeps on the root context: its workspace and its output."""

    workspace: Workspace
    out: Output


def _run(ctx: typer.Context) -> Run:
    root = ctx.find_root()
    if not isinstance(root.obj, Run):  # the root callback did not run (completion)
        root.obj = Run(Workspace(), render.output())
    return root.obj


def workspace(ctx: typer.Context) -> Workspace:
    return _run(ctx).workspace


def output(ctx: typer.Context) -> Output:
    return _run(ctx).out


SHOWN = ("customerProfile", "customerSession", "event", "ruleFailureReasons")


def respond(
    ctx: typer.Context,
    resp: Response,
    as_json: bool,
    quiet: bool,
    explain: bool,
    keys: list[str],
    request: tuple[str, str],
) -> None:
    """Print a request's Response: JSON (Talon.One's shape), the key values, or tables. The
    request (method and the Integration API path it stands for) goes to the request log."""
    ws, out = workspace(ctx), output(ctx)
    log_request(ctx, resp, *request)
    if ws.settings.seed and (resp.created_referrals or resp.generated):
        out.note("note: REFCAMP_SEED is set, so generated codes and ids are predictable")
    if as_json:
        # A command shows what it touched (the customer, the session, the event) and why rules
        # did not fire, as a request asking for them in responseContent would get them.
        resp.response_content = (*resp.response_content, *SHOWN)
        ids = ws.talon_ids()
        data = talon.integration_state(resp, ws.catalog, ids)
        if explain and resp.evaluation is not None:
            data["explanation"] = talon.explanation(resp.evaluation, ids)
        for text in resp.notes:
            out.note(f"note: {text}")
        out.json(data)
    elif quiet:
        for text in resp.notes:
            out.note(f"note: {text}")
        for key in keys:
            out.line(key)
    else:
        render.response(resp, explain)


def log_request(ctx: typer.Context, resp: Response, method: str, path: str) -> None:
    """Record a command's request in the request log (the console shows it with the HTTP door's
    and replay's). A dry run is not logged: it leaves the state file as it was."""
    if resp.dry_run:
        return
    ws = workspace(ctx)
    entry = talon.log_entry("cli", method, path, ws.now, resp, ws.talon_ids())
    record_after(ws, entry)


def version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"refcamp {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="State file, or a PostgreSQL database as postgresql://user:password@host:port/"
            "dbname (else $REFCAMP_DB, else a file in the user data dir).",
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
    out = render.start()  # this run's output, on the streams in place now (tests swap them)
    try:
        # The one place a command reads the environment; a bad REFCAMP_REQUEST_LOG is an error
        # for every command (before a request is saved).
        settings = Settings.read(os.environ, db, campaigns, now)
    except RefcampError as error:
        fail(str(error), error.exit_code)
    ws = Workspace(settings, warn=out.note)
    ctx.obj = Run(ws, out)
    ctx.call_on_close(ws.close)
    try:
        _ = ws.now  # a bad --now or REFCAMP_NOW is an error for every command, used or not
    except RefcampError as error:
        fail(str(error), error.exit_code)


def main() -> None:
    """The refcamp command. Usage errors (a missing argument, an unknown option) are one line on
    stderr and exit 2, like every other input error."""
    try:
        code = app(prog_name="refcamp", standalone_mode=False)
    except typer.Abort:
        code = 130
    except NoArgsIsHelpError as error:  # `refcamp session`: the help, once
        # Typer's Rich help is printed while the error is made (its message is then empty);
        # plain Click's help is the message.
        sys.stdout.write(error.format_message())
        sys.exit(0)
    except ClickException as error:
        context = error.ctx if isinstance(error, UsageError) else None
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        render.output().error(error.format_message(), hint=hint)
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)
