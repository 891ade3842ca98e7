"""Every name refcamp takes from Typer's private modules, in one place (pyproject.toml pins Typer
to 0.29.x for them; tests/test_typer_internals.py checks each one's shape, so an upgrade that
changes one fails there, by name).

Why private ones at all: Typer 0.29 carries its own copy of Click (`typer._click`; a `click`
package installed beside it is another copy, whose classes and exceptions are not the ones Typer
raises) and makes public only part of it (`typer.BadParameter`, `typer.Context`, `typer.echo`...).
And refcamp converts its plain parameters itself (commands.plain), because the Pydantic validator
Typer builds for every parameter at every start was half of a command's start-up; that replaces
one piece of Typer's conversion, which only its private modules name.

What refcamp relies on:

- `typer._click.core`: `Command` (every command and group is one; `Built` maps names to them),
  `Context` (what Typer's commands make: Click's own, not `typer.Context`, a subclass of it) and
  `Parameter` (what `get_params` returns).
- `typer._click.exceptions`: `ClickException` (a usage error's `format_message()`, `exit_code`),
  `UsageError(message, ctx)` and its `ctx`, `NoSuchOption` and its `option_name`,
  `NoArgsIsHelpError` (a group run without a command; its message is the help).
- `typer._click.globals.get_current_context(silent=True)`: the running command's context.
- `typer._coercion.RuntimeParam`: a frozen dataclass of `parameter_info` and `annotation` whose
  `_coerce_value(value, param, ctx)` converts one value; Typer's parameters (`typer.core`'s
  `TyperOption` and `TyperArgument`) keep theirs in `_runtime_param`, build one with
  `build_runtime_param(type_descriptor)` only while it is None, and describe their type in
  `type_descriptor` (`annotation`, `parameter_info`, `is_path`, `is_list`, `is_file`,
  `is_choice`, `is_ranged`); `_bare_type(annotation)` names a type for the help. The tests
  compare refcamp's conversion with Typer's: `resolve_type_descriptor(annotation, info)`.
- `typer._param_types.coerce_cli_path(value, parameter_info, *, path_type, param, ctx)`: Typer's
  checks of a path (exists, file or folder, ...).

Public modules, but undocumented, that refcamp uses as well (checked by the same test):
`typer.main.get_command_from_info`, `get_group_from_info`, `get_command_name`;
`typer.models.CommandInfo` and `TyperInfo`; `typer.core.TyperCommand.make_parser` (the parser's
`parse_args(args) -> (opts, rest, order)`); and, in the tests, `typer.testing._get_command`.
"""

from __future__ import annotations

try:
    from typer._click.core import Command, Context, Parameter
    from typer._click.exceptions import (
        ClickException,
        NoArgsIsHelpError,
        NoSuchOption,
        UsageError,
    )
    from typer._click.globals import get_current_context
    from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
    from typer._param_types import coerce_cli_path
except ImportError as error:  # a Typer other than the one pyproject.toml pins
    from importlib.metadata import version

    raise ImportError(
        f"refcamp needs Typer 0.29's internals (refcamp/cli/typer_internals.py names them); "
        f"Typer {version('typer')} is installed: pip install 'typer>=0.29,<0.30' ({error})"
    ) from error

__all__ = [
    "ClickException",
    "Command",
    "Context",
    "NoArgsIsHelpError",
    "NoSuchOption",
    "Parameter",
    "RuntimeParam",
    "UsageError",
    "build_runtime_param",
    "coerce_cli_path",
    "get_current_context",
    "resolve_type_descriptor",
]
