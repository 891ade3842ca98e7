"""Long listings for people (`referral list`, `coupon list`): pages, and a table drawn in one pass.

Rich lays a table out cell by cell (measure, wrap, pad, crop), which takes tens of seconds for
10,000 codes. A listing's cells are short single-line values, so here each column is as wide as its
widest cell, measured once, and every row is one line: a code or id is never wrapped. When the
table is wider than the terminal, the least useful columns are left out, and said so; if the kept
ones are still too wide, the widest column that is not kept is shortened with "…".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

from refcamp.errors import InputError

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
    return PAGE if not as_json and sys.stdout.isatty() else None


def paged_note(shown: int, offset: int, total: int) -> None:
    """On stderr, when the rows shown are not all there are: which ones, and how to get more."""
    from refcamp.render import note

    if shown == total:
        return
    if shown == 0:
        note(f"No rows after the first {offset:,} (there are {total:,}).")
        return
    last = offset + shown
    more = f"; next: --offset {last}" if last < total else ""
    note(f"Rows {offset + 1:,}–{last:,} of {total:,}{more} (--limit 0 shows all).")


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    width: int | None = None,
) -> None:
    """Print a table on stdout in the look of render.table. `keep` columns are never shortened
    or left out; `drop` lists the columns to leave out first, least useful first, when the table
    is wider than `width` (default: the terminal's, 80 when piped)."""
    from rich.cells import cell_len

    from refcamp.render import console, inert, note

    cells = [[inert("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [
        max([cell_len(name), *(cell_len(row[i]) for row in cells)])
        for i, name in enumerate(columns)
    ]
    room = width if width is not None else console().width
    shown = list(range(len(columns)))

    def total() -> int:
        return sum(widths[i] + 3 for i in shown) + 1

    left_out = []
    for name in drop:
        if total() <= room:
            break
        index = columns.index(name)
        if name not in keep and index in shown:
            shown.remove(index)
            left_out.append(name)
    cut = [i for i in shown if columns[i] not in keep]
    shortened = False
    while total() > room and cut:
        widest = max(cut, key=lambda i: widths[i])
        smallest = max(cell_len(columns[widest]), 4)
        if widths[widest] <= smallest:
            cut.remove(widest)
            continue
        widths[widest] = max(smallest, widths[widest] - (total() - room))
        shortened = True

    def fit(text: str, size: int) -> str:
        length = cell_len(text)
        if length > size:
            from rich.cells import set_cell_size

            return set_cell_size(text, size - 1) + "…"
        return text + " " * (size - length)

    def line(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (widths[i] + 2) for i in shown) + right

    out = [
        inert(title),
        line("┏", "━", "┳", "┓"),
        "┃" + "┃".join(f" {fit(columns[i], widths[i])} " for i in shown) + "┃",
        line("┡", "━", "╇", "┩"),
    ]
    out += ["│" + "│".join(f" {fit(row[i], widths[i])} " for i in shown) + "│" for row in cells]
    out.append(line("└", "─", "┴", "┘"))
    sys.stdout.write("\n".join(out) + "\n")
    if left_out or shortened:
        what = []
        if left_out:
            what.append(f"left out {', '.join(left_out)}")
        if shortened:
            what.append("shortened long values with …")
        note(f"To fit {room} columns: {'; '.join(what)}. A wider terminal or --json shows all.")
