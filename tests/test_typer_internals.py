"""What refcamp relies on inside Typer (refcamp/cli/typer_internals.py lists it), checked one by
one: after a Typer upgrade, a failure here names what changed, before any command misbehaves."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
import typer.models
import typer.testing

from refcamp.cli import typer_internals as internals

# stateless: nothing here touches the state
pytestmark = pytest.mark.stateless

WHERE = f"(see refcamp/cli/typer_internals.py; Typer {typer.__version__} is installed)"


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_clicks_classes_are_the_ones_typer_uses() -> None:
    """refcamp catches and subclasses Typer's copy of Click: its classes must be Typer's own."""
    assert issubclass(typer.core.TyperCommand, internals.Command), WHERE
    assert issubclass(typer.core.TyperGroup, internals.Command), WHERE
    assert issubclass(typer.core.TyperOption, internals.Parameter), WHERE
    assert issubclass(typer.BadParameter, internals.UsageError), WHERE
    assert issubclass(internals.UsageError, internals.ClickException), WHERE
    assert issubclass(internals.NoSuchOption, internals.UsageError), WHERE
    assert issubclass(internals.NoArgsIsHelpError, internals.UsageError), WHERE
    for name in ("format_message", "exit_code"):  # cli.main
        assert hasattr(internals.ClickException, name), f"ClickException.{name} {WHERE}"
    assert "option_name" in parameters(internals.NoSuchOption), f"NoSuchOption {WHERE}"
    # cli.in_options: the running command's context, or None outside one.
    assert internals.get_current_context(silent=True) is None, WHERE
    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(name="x", callback=lambda: None),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    with command.make_context("x", []) as ctx:
        assert isinstance(ctx, internals.Context), f"Context {WHERE}"
        assert internals.get_current_context(silent=True) is ctx, f"get_current_context {WHERE}"


def test_typers_conversion_is_shaped_as_commands_plain_expects() -> None:
    """commands._PlainValue is a RuntimeParam that Typer's parameters use when it is set."""
    fields = {f.name for f in dataclasses.fields(internals.RuntimeParam)}
    assert {"parameter_info", "annotation"} <= fields, f"RuntimeParam fields {fields} {WHERE}"
    assert parameters(internals.RuntimeParam._coerce_value) == ["self", "value", "param", "ctx"], (
        f"RuntimeParam._coerce_value {WHERE}"
    )
    assert parameters(internals.build_runtime_param) == ["descriptor"], WHERE
    wanted = ["value", "parameter_info", "path_type", "param", "ctx"]
    assert parameters(internals.coerce_cli_path) == wanted, f"coerce_cli_path {WHERE}"
    descriptor = internals.resolve_type_descriptor(Path, typer.models.OptionInfo())
    for name in ("annotation", "parameter_info", "is_path", "is_list", "is_file", "is_choice"):
        assert hasattr(descriptor, name), f"TypeDescriptor.{name} {WHERE}"
    assert hasattr(descriptor, "is_ranged"), f"TypeDescriptor.is_ranged {WHERE}"
    for name in ("parser", "path_type"):
        assert hasattr(descriptor.parameter_info, name), f"ParameterInfo.{name} {WHERE}"


def test_a_runtime_param_set_before_conversion_is_the_one_typer_uses() -> None:
    """commands.plain sets a parameter's `_runtime_param` before Typer builds its own; Typer must
    then convert with it (else every start pays for Pydantic again, and nothing else says so)."""
    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(name="x", callback=lambda count=1: None),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    (param,) = command.params
    assert isinstance(param, typer.core.TyperOption)
    assert param._runtime_param is None, f"TyperOption._runtime_param {WHERE}"
    assert callable(param._bare_type), f"TyperOption._bare_type {WHERE}"

    @dataclasses.dataclass(frozen=True)
    class Doubled(internals.RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            return int(value) * 2

    param._runtime_param = Doubled(param.type_descriptor.parameter_info, int)
    ctx = command.make_context("x", ["--count", "21"])
    assert ctx.params["count"] == 42, f"TyperOption._runtime_param is not used {WHERE}"


def test_the_public_but_undocumented_functions_take_what_commands_gives() -> None:
    main = typer.main
    assert {"pretty_exceptions_short", "rich_markup_mode"} <= set(
        parameters(main.get_command_from_info)
    ), f"typer.main.get_command_from_info {WHERE}"
    assert {"pretty_exceptions_short", "rich_markup_mode", "suggest_commands"} <= set(
        parameters(main.get_group_from_info)
    ), f"typer.main.get_group_from_info {WHERE}"
    assert main.get_command_name("a_b") == "a-b", WHERE
    for name in ("cls", "callback", "name"):
        assert hasattr(typer.models.CommandInfo(), name), f"CommandInfo.{name} {WHERE}"
    assert {"typer_instance", "name", "cls"} <= set(parameters(typer.models.TyperInfo)), WHERE
    # commands._Checked.make_parser wraps the parser's parse_args (-> opts, rest, order).
    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(name="x", callback=lambda name="": None),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    parser = command.make_parser(command.make_context("x", []))
    opts, rest, _ = parser.parse_args(["--name", "n", "more"])
    assert (opts, rest) == ({"name": "n"}, ["more"]), f"the parser's parse_args {WHERE}"
    # tests/conftest.py caches what CliRunner builds the app with.
    assert callable(getattr(typer.testing, "_get_command", None)), f"_get_command {WHERE}"
