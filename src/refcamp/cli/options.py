"""Options shared by many commands, declared once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from refcamp.clock import parse_time

Json = Annotated[bool, typer.Option("--json", help="Print JSON (Talon.One's shapes) for scripts.")]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the key values, one per line.")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Evaluate and show, but save nothing.")]
Explain = Annotated[
    bool, typer.Option("--explain", help="Show every rule, condition by condition: seen vs needed.")
]
Attrs = Annotated[
    list[str] | None,
    typer.Option(
        "--attr",
        help="Attribute K=V (typed: numbers, true/false, text) or K:=JSON.",
        show_default=False,
    ),
]
Payload = Annotated[
    str | None,
    typer.Option(
        "--payload", help="Talon.One request body: a JSON file, or - for stdin.", show_default=False
    ),
]


def optional_time(value: str | None, option: str) -> datetime | None:
    """A --starts/--expires style time, or None when the option was not given."""
    return parse_time(value, option) if value is not None else None
