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
import typer.core
from typer._click.exceptions import NoSuchOption

from refcamp import __version__

F = TypeVar("F", bound=Callable[..., Any])


def option_names(ctx: Any) -> set[str]:
    """Every option name a command line can give here: the command's own, and its parents'
    (refcamp's global options), --help included."""
    names: set[str] = set()
    while ctx is not None:
        names.update(ctx.help_option_names)
        for param in ctx.command.params:
            if param.param_type_name == "option":
                names.update(param.opts, param.secondary_opts)
        ctx = ctx.parent
    return names


def plain_number(text: str, kind: type) -> bool:
    """Whether a command-line number is written as people write one: the parser would also take
    " 10 ", "1_000", "nan" and "inf" (Pydantic's number syntax)."""
    import math

    from refcamp.payloads import DECIMAL, INTEGER

    if kind is int:
        return INTEGER.fullmatch(text) is not None
    return DECIMAL.fullmatch(text) is not None and math.isfinite(float(text))


def check_raw_values(ctx: Any, command: Any, opts: dict[str, Any]) -> None:
    """The values the parser gave the options, before any conversion.

    An option whose value is missing takes the next word as its value: `--profile $P --dry-run`
    with an empty $P would close the session for real for a customer named '--dry-run'. So a
    value that is one of the command's option names (or a global one) is a usage error, in every
    form (`--profile --dry-run`, `--profile=--dry-run`, `--profile -q`)."""
    from typer._click.exceptions import UsageError

    from refcamp.render import inert

    names = option_names(ctx)
    for param in command.params:
        raw = opts.get(param.name)
        if param.param_type_name != "option" or raw is None:
            continue
        option = param.opts[0]
        for value in raw if isinstance(raw, list | tuple) else [raw]:
            if not isinstance(value, str):
                continue  # a flag's True
            if value in names:
                raise UsageError(
                    f"{option} needs a value, got the option {inert(value)} (an empty variable?)",
                    ctx,
                )
            if value == "" and param.type_descriptor.is_path:  # Path("") is the current folder
                raise UsageError(f"{option} needs a value, got an empty one", ctx)
            kind = param.type_descriptor.annotation
            if kind in (int, float) and not plain_number(value, kind):
                wanted = "a whole number" if kind is int else "a number"
                raise UsageError(
                    f"{option}: expected {wanted} in digits 0-9, got {inert(repr(value))}", ctx
                )
    # A global option given before the command (`refcamp --db --json ...`) took one of the
    # command's option names, which its parser could not know yet.
    parent = ctx.parent
    while parent is not None:
        for param in parent.command.params:
            value = parent.params.get(param.name)
            if isinstance(value, str | Path) and str(value) in names:
                raise UsageError(
                    f"{param.opts[0]} needs a value, got the option {inert(str(value))}", ctx
                )
        parent = parent.parent


def misplaced(ctx: Any, error: Any) -> None:
    """A global option after the command (`refcamp simulate --now ...`) is "No such option" to
    the command's parser; say where it goes instead. (Moving it to the front ourselves would mean
    guessing which later words are other options' values.)"""
    from typer._click.exceptions import UsageError

    root = ctx.find_root()
    if ctx is root:
        return
    option = error.option_name
    for param in root.command.params:
        if option in param.opts:
            command = ctx.command_path.removeprefix(f"{root.info_name} ")
            example = (
                f"{root.info_name} {option}"
                if param.is_flag
                else f"{root.info_name} {option} {param.name.upper()} {command} ..."
            )
            raise UsageError(
                f"{option} is a global option: put it before the command ({example})", ctx
            ) from None


def literal(text: str) -> str:
    """Help text as written: Typer renders it as Rich markup, where "[campaign.coupons]" is a
    style tag and vanishes."""
    import re

    return re.sub(r"\[(?=[a-zA-Z#/@])", r"\\[", text)


def reflow(text: str | None) -> str | None:
    """A docstring as paragraphs: Typer's Rich help keeps the source's line breaks, which cut
    sentences in the middle. A line that starts with a space or "-" stays a line of its own."""
    if not text:
        return text
    import inspect
    import re

    return literal(re.sub(r"(?<=\S)\n(?=[^\s-])", " ", inspect.cleandoc(text)))


def tidy(param: Any) -> None:
    """Help for people: a flag takes no value, so no `<bool>`; a repeatable option names what one
    use takes, not a Python `<list[str]>`, and says it repeats."""
    if getattr(param, "_tidied", False):  # a command's params are shown again and again
        return
    param._tidied = True
    if param.help:
        param.help = literal(param.help)
    if param.param_type_name != "option":
        return
    if param.is_flag:
        param.metavar = ""
    elif param.type_descriptor.is_list and param.metavar is None:
        param.metavar = f"<{param._bare_type(param.type_descriptor.annotation.__args__[0])}>"
        if param.help and "repeatable" not in param.help:
            param.help = f"{param.help.rstrip('.')} (repeatable)."


class _Checked:
    """Every refcamp command and group: its parser checks the raw values (check_raw_values), its
    help reads as sentences (reflow, tidy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            tidy(param)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # Click marks a required argument {ID}; people know a bare ID (and [ID] for optional).
        pieces = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def make_parser(self, ctx: Any) -> Any:
        parser = super().make_parser(ctx)  # type: ignore[misc]
        parse = parser.parse_args

        def checked(args: list[str]) -> Any:
            try:
                opts, rest, order = parse(args)
            except NoSuchOption as error:
                misplaced(ctx, error)
                raise
            check_raw_values(ctx, self, opts)
            return opts, rest, order

        parser.parse_args = checked
        return parser


class Command(_Checked, typer.core.TyperCommand):
    pass


class Group(_Checked, typer.core.TyperGroup):
    pass


app = typer.Typer(
    cls=Group,
    name="refcamp",
    help="A Talon.One-style promotion engine on your own machine: campaigns in TOML, state in "
    "SQLite, one command per Integration API request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def debug() -> bool:
    return os.environ.get("REFCAMP_DEBUG", "") not in ("", "0")


def fail(message: str, code: int, details: list[str] | tuple[str, ...] = ()) -> None:
    """The error line, then its details (a campaign error's problems) one a line, indented; the
    text in them may come from users and files, so it is made inert."""
    from refcamp.render import inert

    text = "".join(f"\n  {inert(detail)}" for detail in details)
    sys.stderr.write(f"refcamp: error: {inert(message)}{text}\n")
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
    from refcamp.errors import InputError

    for name, value in options.items():
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str) and not _utf8(text):
                option = name.removeprefix("as_").replace("_", "-")
                raise InputError(f"{option}: not valid UTF-8 text")


def guarded(fn: F) -> F:
    """Turn refcamp's errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import sqlite3

        from refcamp.errors import RefcampError

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


def in_options(message: str, field: str | None) -> str:
    """The service names a request's field ("usage limit: ..."); at the command line a person typed
    an option: name that one ("--usage-limit: ...") when the running command has it."""
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True) if field else None
    if ctx is None or field is None or not message.startswith(f"{field}:"):
        return message
    for param in ctx.command.params:
        if param.name == field.replace(" ", "_") and param.opts[0].startswith("--"):
            return param.opts[0] + message[len(field) :]
    return message


def workspace(ctx: typer.Context) -> Any:
    from refcamp.service import Workspace

    root = ctx.find_root()
    if not isinstance(root.obj, Workspace):
        root.obj = Workspace()
    return root.obj


SHOWN = ("customerProfile", "customerSession", "event", "ruleFailureReasons")


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
        # A command shows what it touched (the customer, the session, the event) and why rules
        # did not fire, as a request asking for them in responseContent would get them.
        resp.response_content = (*resp.response_content, *SHOWN)
        ids = ws.talon_ids()
        data = talon.integration_state(resp, ws.catalog, ids)
        if explain and resp.evaluation is not None:
            data["explanation"] = talon.explanation(resp.evaluation, ids)
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

    ws = Workspace(db, campaigns, now, warn=render.note)
    ctx.obj = ws
    ctx.call_on_close(ws.close)
    try:
        _ = ws.now  # a bad --now or REFCAMP_NOW is an error for every command, used or not
    except RefcampError as error:
        fail(str(error), error.exit_code)


# Each noun's module, in the order `refcamp --help` lists them; groups have a Typer `app`,
# single commands a function of the same name.
NOUNS = {
    "demo": "command",
    "campaign": "group",
    "profile": "group",
    "session": "group",
    "event": "group",
    "referral": "group",
    "coupon": "group",
    "loyalty": "group",
    "replay": "command",
    "simulate": "command",
    "serve": "command",
    "db": "group",
}
GLOBAL_VALUES = ("--db", "--campaigns", "--now")


def invoked(argv: list[str]) -> tuple[str | None, str | None]:
    """The noun a command line asks for, skipping the global options before it, and the word
    after it (a group's command, when it names one)."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in GLOBAL_VALUES:
            skip = True
        elif not arg.startswith("-"):
            if arg not in NOUNS:
                return None, None
            after = argv[index + 1] if index + 1 < len(argv) else None
            return arg, after
    return None, None


def register(only: str | None = None, verb: str | None = None) -> None:
    """Add the nouns to the app: just the one invoked, when known, and of a group just the command
    invoked, when it names one — building every command's parser costs milliseconds at every
    start — else all of them (help, completion, tests)."""
    import importlib

    for noun, kind in NOUNS.items():
        if only is not None and noun != only:
            continue
        module = importlib.import_module(f"refcamp.cli.{noun}")
        if kind == "group":
            commands = module.app.registered_commands
            chosen = [c for c in commands if c.name == verb]
            if chosen:  # else: the group's help, or a usage error that lists its commands
                module.app.registered_commands = chosen
            for command in module.app.registered_commands:
                command.cls = Command
            app.add_typer(module.app, name=noun, cls=Group)
        else:
            app.command(noun, cls=Command)(getattr(module, noun))


def started_as_refcamp() -> bool:
    """Whether this process is the refcamp command (not a test run or a library import)."""
    first = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return first.name == "refcamp" or first.parts[-2:] == ("refcamp", "__main__.py")


if started_as_refcamp():
    register(*invoked(sys.argv[1:]))
else:
    register()


def main() -> None:
    """The refcamp command. Usage errors (a missing argument, an unknown option) are one line on
    stderr and exit 2, like every other input error."""
    try:
        code = app(prog_name="refcamp", standalone_mode=False)
    except typer.Abort:
        code = 130
    except Exception as error:
        # Click's usage errors (vendored by newer Typers) are recognised by their shape.
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        if type(error).__name__ == "NoArgsIsHelpError":  # `refcamp session`: the help, once
            # Typer's Rich help is printed while the error is made (its message is then empty);
            # plain Click's help is the message.
            sys.stdout.write(error.format_message())
            sys.exit(0)
        context = getattr(error, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        from refcamp.render import inert

        sys.stderr.write(f"refcamp: error: {inert(error.format_message())}{hint}\n")
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)
