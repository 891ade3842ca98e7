"""How refcamp's commands parse and load: the Click classes every command and group is built
with, and the lazy groups that import a noun's module only when Click asks for it.

Building every command's parser costs milliseconds at every start, so neither the nouns nor a
group's commands are built until a command line, the help or completion names them; tests and
users get the same app.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import typer.core
import typer.main
from typer.core import MarkupMode
from typer.models import CommandInfo, TyperInfo

from refcamp.cli.typer_internals import Command as ClickCommand
from refcamp.cli.typer_internals import (
    Context,
    NoSuchOption,
    Parameter,
    RuntimeParam,
    UsageError,
    build_runtime_param,
    coerce_cli_path,
)
from refcamp.option_values import DECIMAL, INTEGER
from refcamp.render import inert


def option_names(ctx: Context | None) -> set[str]:
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
    if kind is int:
        return INTEGER.fullmatch(text) is not None
    return DECIMAL.fullmatch(text) is not None and math.isfinite(float(text))


def check_raw_values(ctx: Context, command: ClickCommand, opts: dict[str, Any]) -> None:
    """The values the parser gave the options, before any conversion.

    An option whose value is missing takes the next word as its value: `--profile $P --dry-run`
    with an empty $P would close the session for real for a customer named '--dry-run'. So a
    value that is one of the command's option names (or a global one) is a usage error, in every
    form (`--profile --dry-run`, `--profile=--dry-run`, `--profile -q`)."""
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


def misplaced(ctx: Context, error: NoSuchOption) -> None:
    """A global option after the command (`refcamp simulate --now ...`) is "No such option" to
    the command's parser; say where it goes instead. (Moving it to the front ourselves would mean
    guessing which later words are other options' values.)"""
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
    return re.sub(r"\[(?=[a-zA-Z#/@])", r"\\[", text)


def reflow(text: str | None) -> str | None:
    """A docstring as paragraphs: Typer's Rich help keeps the source's line breaks, which cut
    sentences in the middle. A line that starts with a space or "-" stays a line of its own."""
    if not text:
        return text
    return literal(re.sub(r"(?<=\S)\n(?=[^\s-])", " ", inspect.cleandoc(text)))


def tidy(param: Any) -> None:  # Typer's option and argument classes
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


# What Typer converts with a Pydantic validator built for each parameter at each start: importing
# Pydantic and building those was about half of a command's start-up. refcamp's parameters are
# plain (these types, no range, choice or parser), so they are converted here; anything else, or
# a value these cannot take, still goes to Typer's own conversion (and its messages).
PLAIN = (str, int, float, bool, Path, list[str])
_NOT_PLAIN = object()


def _plain(kind: Any, value: Any) -> Any:
    """`value` as a parameter of type `kind` holds it, or _NOT_PLAIN for Typer to convert. Number
    words were checked before (check_raw_values); a default is already of its type."""
    if kind is str or kind is bool or kind is Path:
        if isinstance(value, kind):
            return value
        return Path(value) if kind is Path and isinstance(value, str) else _NOT_PLAIN
    if kind is int or kind is float:
        if type(value) is kind or (kind is float and type(value) is int):
            return kind(value)
        if isinstance(value, str) and plain_number(value, kind):
            return kind(value)
        return _NOT_PLAIN
    if kind == list[str] and all(isinstance(item, str) for item in value):
        return list(value)
    return _NOT_PLAIN


@dataclass(frozen=True)
class _PlainValue(RuntimeParam):
    """Typer's conversion of one plain parameter, without Pydantic."""

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        converted = _plain(self.annotation, value)
        if converted is _NOT_PLAIN:
            typers = build_runtime_param(param.type_descriptor)
            return typers._coerce_value(value, param=param, ctx=ctx)
        if self.annotation is Path:  # Typer's checks of a path (exists, file or folder...)
            info = self.parameter_info
            return coerce_cli_path(converted, info, path_type=Path, param=param, ctx=ctx)
        return converted


def plain(param: Any) -> None:  # Typer's option and argument classes
    """Convert the parameter's values with _PlainValue when its type is plain."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if (
        param._runtime_param is None
        and descriptor.annotation in PLAIN
        and not (descriptor.is_file or descriptor.is_choice or descriptor.is_ranged)
        and info.parser is None
        and info.path_type is None  # a path given as str or bytes: Typer's
    ):
        param._runtime_param = _PlainValue(info, descriptor.annotation)


class _Checked:
    """Every refcamp command and group: its parser checks the raw values (check_raw_values), its
    help reads as sentences (reflow, tidy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            tidy(param)
            plain(param)
        return params

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        # Click marks a required argument {ID}; people know a bare ID (and [ID] for optional).
        pieces = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def make_parser(self, ctx: Context) -> Any:  # Click's private _OptionParser
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


class Built(Mapping[str, ClickCommand]):
    """Commands by name, each built the first time it is asked for. Typer's own code reads a
    group's `commands` (its "did you mean" suggestions, for one), so the laziness lives here
    rather than only in get_command."""

    def __init__(self, names: list[str], build: Callable[[str], ClickCommand]) -> None:
        self._names = names
        self._build = build
        self._built: dict[str, ClickCommand] = {}

    def __getitem__(self, name: str) -> ClickCommand:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _command(info: CommandInfo, markup: MarkupMode) -> ClickCommand:
    info.cls = Command
    # pretty_exceptions_short only matters to Typer's pretty tracebacks, which refcamp turns off.
    return typer.main.get_command_from_info(
        info, pretty_exceptions_short=True, rich_markup_mode=markup
    )


def noun_group(noun: str, app: typer.Typer) -> Group:
    """A noun's Typer app as a Group whose commands are built when named. Typer builds the group
    itself (its help and defaults) from a copy of the app without its commands."""
    infos = {
        info.name or typer.main.get_command_name(info.callback.__name__): info
        for info in app.registered_commands
        if info.callback is not None
    }
    bare = typer.Typer()
    bare.info, bare.registered_commands = app.info, []
    group = typer.main.get_group_from_info(
        TyperInfo(bare, name=noun, cls=Group),
        pretty_exceptions_short=True,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    assert isinstance(group, Group)
    group.commands = Built(list(infos), lambda name: _command(infos[name], app.rich_markup_mode))
    return group


# Each noun's module, in the order `refcamp --help` lists them; groups have a Typer `app`,
# single commands a function of the same name.
NOUNS = {
    "demo": "command",
    "replay": "command",
    "simulate": "command",
    "serve": "command",
    "campaign": "group",
    "profile": "group",
    "session": "group",
    "event": "group",
    "referral": "group",
    "coupon": "group",
    "loyalty": "group",
    "db": "group",
}


class Nouns(Group):
    """refcamp itself: its nouns, each module imported when Click asks for it (a command line,
    the help, completion), as hatch's LazyGroup does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = Built(list(NOUNS), self._load)

    def _load(self, noun: str) -> ClickCommand:
        module = importlib.import_module(f"refcamp.cli.{noun}")
        if NOUNS[noun] == "group":
            return noun_group(noun, module.app)
        info = CommandInfo(name=noun, callback=getattr(module, noun))
        return _command(info, self.rich_markup_mode)
