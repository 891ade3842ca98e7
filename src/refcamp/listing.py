"""Long listings for people (`referral list`, `coupon list`): --limit and --offset, a page on a
terminal, and a note saying which rows are shown. The table itself is render.table's."""

from __future__ import annotations

from typing import Annotated

import typer

from refcamp.errors import InputError
from refcamp.render import note, output

PAGE = 100  # rows on a terminal when --limit is not given: a screenful or two, at once

Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        help="Show at most N rows; 0: all (default: 100 on a terminal, all when piped or --json).",
        show_default=False,
    ),
]
Offset = Annotated[int, typer.Option("--offset", help="Skip the first N rows.")]


def page_size(limit: int | None, offset: int, as_json: bool) -> int | None:
    """How many rows to show: the --limit given (0: all), else a page on a terminal, else all."""
    if limit is not None and limit < 0:
        raise InputError(f"--limit: 0 (all) or more, got {limit}")
    if offset < 0:
        raise InputError(f"--offset: 0 or more, got {offset}")
    if limit is not None:
        return limit or None
    return PAGE if not as_json and output().stdout.isatty() else None


def paged_note(shown: int, offset: int, total: int) -> None:
    """On stderr, when the rows shown are not all there are: which ones, and how to get more."""
    if shown == total:
        return
    if shown == 0:
        note(f"No rows after the first {offset:,} (there are {total:,}).")
        return
    last = offset + shown
    more = f"; next: --offset {last}" if last < total else ""
    note(f"Rows {offset + 1:,}–{last:,} of {total:,}{more} (--limit 0 shows all).")
