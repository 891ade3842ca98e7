"""What the store asks of a connection: sqlite3's, or store.postgres.Connection, which takes the
same SQLite-dialect SQL, gives rows by name and position and raises the same sqlite3 errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Connection(Protocol):
    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...
