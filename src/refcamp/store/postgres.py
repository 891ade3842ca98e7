"""refcamp's state in PostgreSQL: the one place that knows how PostgreSQL differs from SQLite.

The store writes its SQL once, in SQLite's dialect (`?` parameters, `INSERT OR IGNORE`, rowid,
BEGIN IMMEDIATE), and reads rows by name or position as sqlite3.Row allows. `Connection` wraps a
psycopg connection so that the same SQL runs here: each statement is translated once (and the
translation kept), rows come back in the same shape, and errors come out as refcamp's own
(errors.DatabaseError and its kinds), as store.db raises them for SQLite: a lock wait that times
out is DatabaseBusy, a server that stopped or restarted DatabaseUnavailable.

How writes stay race-free across processes and machines: as in SQLite, one writer at a time. Every
write transaction (BEGIN IMMEDIATE) first takes a transaction-level advisory lock on the schema
the state lives in, so the read-check-write of a limit or a code's counter never interleaves with
another's, whichever server runs it; reads take a consistent snapshot (REPEATABLE READ) and never
wait. See ARCHITECTURE.md for what this predicts for more machines.

psycopg is imported here only, and this module only when a postgresql:// URL is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import count
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from refcamp.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseFull,
    DatabaseIntegrity,
    DatabaseUnavailable,
    InputError,
    StateFileError,
    StateUnreachable,
)
from refcamp.paths import shown
from refcamp.store.migrations import APPLICATION_ID, MIGRATIONS

# The advisory lock every write transaction takes: refcamp's class, and the state's schema (so
# two states in two schemas of one database do not wait for each other).
WRITE_LOCK = f"pg_advisory_xact_lock({APPLICATION_ID}, hashtext(current_schema()))"
TRY_WRITE_LOCK = f"pg_try_advisory_xact_lock({APPLICATION_ID}, hashtext(current_schema()))"
LOCK_TIMEOUT_MS = 30_000  # as SQLite's busy timeout: scripts wait for each other


# --- rows ----------------------------------------------------------------------------------------


class Row(tuple):
    """A row readable by position and by column name, as sqlite3.Row."""

    __slots__ = ()
    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


_shapes: dict[tuple[str, ...], type[Row]] = {}


def _rows(cursor: Any) -> Any:
    """psycopg's row factory: one Row class per result shape (columns), made once."""
    description = cursor.description
    if description is None:
        return tuple
    columns = tuple(column.name for column in description)
    shape = _shapes.get(columns)
    if shape is None:
        names = {name: i for i, name in reversed(list(enumerate(columns)))}
        shape = _shapes[columns] = type("Row", (Row,), {"__slots__": (), "names": names})
    return shape


class _Number(Loader):
    """numeric (what sum() over integers gives) as int when whole, as SQLite answers."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or text in ("NaN", "Infinity", "-Infinity"):
            return float(text)
        return int(text)


# --- SQL -----------------------------------------------------------------------------------------

_COMMENTS = re.compile(r"^\s*(?:--[^\n]*\n\s*)*")  # a migration's leading comment lines
_NUMBERED = re.compile(r"\?(\d+)")
_NAMED = re.compile(r"(?<![:\w]):(\w+)")  # :name, not a ::cast
_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT INTO", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^(\s*(?:--[^\n]*\n\s*)*)CREATE TABLE (\w+) \(", re.IGNORECASE)
_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) (BEFORE \w+) ON (\w+)\s+BEGIN SELECT RAISE\(ABORT, '([^']*)'\); END;",
    re.IGNORECASE,
)
_DROP_TRIGGER = re.compile(r"^\s*DROP TRIGGER (\w+)\s*;?\s*$", re.IGNORECASE)


def _ddl(sql: str) -> str:
    """A migration's statement in PostgreSQL's words: 64-bit integers, byte-order text (SQLite
    compares text by bytes; refcamp's range scans rely on it), a rowid on every table (Talon.One's
    integer ids of profiles, sessions and codes are their rowids), and the ledger's append-only
    triggers as a trigger function."""
    trigger = _TRIGGER.search(sql)
    if trigger:
        name, when, table, message = trigger.groups()
        return (
            f"CREATE OR REPLACE FUNCTION refcamp_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; "
            f"END $$; CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION refcamp_refuse('{message}')"
        )
    dropped = _DROP_TRIGGER.match(sql)
    if dropped:
        return f"DROP TRIGGER {dropped.group(1)} ON ledger"  # the ledger's are the only triggers
    sql = re.sub(
        r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)
    table = _CREATE_TABLE.match(sql)
    if table:
        if "GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in sql:
            rowid = "rowid BIGINT GENERATED ALWAYS AS (id) STORED, "
        else:
            rowid = "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE, "
        sql = sql[: table.end()] + rowid + sql[table.end() :]
    return sql


def translate(sql: str) -> tuple[str, bool]:
    """(the statement in psycopg's terms, whether its parameters are numbered)."""
    head = _COMMENTS.sub("", sql)[:16].upper()
    if head.startswith(("CREATE", "ALTER", "DROP")):
        return _ddl(sql).replace("%", "%%"), False
    numbered = bool(_NUMBERED.search(sql))
    sql = sql.replace("%", "%%")
    if _IGNORE.match(sql):
        sql = _IGNORE.sub("INSERT INTO", sql) + " ON CONFLICT DO NOTHING"
    if _INSERT.match(sql):
        sql += " RETURNING rowid"  # sqlite3's cursor.lastrowid
    if numbered:
        sql = _NUMBERED.sub(r"%(p\1)s", sql)
    elif "?" in sql:
        sql = sql.replace("?", "%s")
    else:
        sql = _NAMED.sub(r"%(\1)s", sql)  # :name parameters, given as a dict
    return sql, numbered


_translated: dict[str, tuple[str, bool]] = {}


def _error(error: psycopg.Error, raw: psycopg.Connection | None = None) -> Exception:
    """A PostgreSQL error as refcamp's: a constraint broken is DatabaseIntegrity; a lock not had
    in time DatabaseBusy; a full disk DatabaseFull; a connection the server closed (it stopped or
    restarted) or that broke DatabaseUnavailable; anything else a DatabaseError with PostgreSQL's
    first line."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, pg_errors.DataError) and "NUL" in first:
        # SQLite keeps any text; PostgreSQL's text never holds the NUL character, so text with it
        # is refused as input (exit 2, HTTP 400), before anything is written.
        return InputError("text with the NUL character (\\x00) cannot be stored in PostgreSQL")
    if isinstance(error, pg_errors.IntegrityError):
        return DatabaseIntegrity(first)
    if isinstance(error, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return DatabaseBusy("database is locked")
    if isinstance(error, pg_errors.DiskFull | pg_errors.OutOfMemory):
        return DatabaseFull(f"PostgreSQL: {first}")
    lost = raw is not None and (raw.closed or raw.broken)
    if lost or isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailable(f"PostgreSQL: {first}")
    return DatabaseError(f"PostgreSQL: {first}")


# --- the connection ------------------------------------------------------------------------------


class Cursor:
    """What execute() returns: rows to fetch or iterate, and the id the INSERT gave."""

    __slots__ = ("_rows", "lastrowid", "rowcount")

    def __init__(self, rows: list[Any], lastrowid: int | None, rowcount: int) -> None:
        self._rows = rows
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int) -> list[Any]:
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator[Any]:
        rows, self._rows = self._rows, []
        return iter(rows)


class Connection:
    """A psycopg connection that takes the store's SQLite-dialect SQL (see the module's doc)."""

    def __init__(self, raw: psycopg.Connection, url: str) -> None:
        self.raw = raw
        self.url = url
        self._versions = count(1)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        special = _SPECIAL.get(sql)
        if special is not None:
            return special(self)
        translated = _translated.get(sql)
        if translated is None:
            translated = _translated[sql] = translate(sql)
        text, numbered = translated
        if numbered:
            params = {f"p{i}": value for i, value in enumerate(params, 1)}  # type: ignore[arg-type]
        try:
            # Parameters always given (even none), so psycopg reads every %% as one %.
            cursor = self.raw.execute(text, params)
            rows = cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            raise _error(error, self.raw) from None
        lastrowid = None
        if text.endswith(" RETURNING rowid"):
            lastrowid = rows[0][0] if rows else None
            rows = []
        return Cursor(rows, lastrowid, cursor.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(sql, row)

    def close(self) -> None:
        self.raw.close()

    # What SQLite does with a PRAGMA or a BEGIN of its own.

    def _begin_write(self) -> Cursor:
        self._run("BEGIN")
        self._run(f"SELECT {WRITE_LOCK}")
        return Cursor([], None, -1)

    def _begin_read(self) -> Cursor:
        self._run("BEGIN ISOLATION LEVEL REPEATABLE READ")
        return Cursor([], None, -1)

    def try_begin(self) -> bool:
        """Begin a write transaction at once, or False (nothing begun) while another holds it."""
        self._run("BEGIN")
        if self._run(f"SELECT {TRY_WRITE_LOCK}")[0][0]:
            return True
        self._run("ROLLBACK")
        return False

    def columns(self, table: str) -> list[str]:
        """A table's columns in order (psycopg's cursor description, which sqlite3 gives)."""
        rows = self._run_with(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [row[0] for row in rows]

    def after_copy(self, tables: Iterable[str]) -> None:
        """Rows copied with their ids: each table's id sequence goes on after the largest."""
        for table in tables:
            present = self.columns(table)
            for column in ("id", "rowid"):
                if column not in present:
                    continue
                # table and column: refcamp's own names, never user data.
                self._run_with(
                    "SELECT setval(sequence::regclass, largest::bigint) FROM (SELECT "
                    f"pg_get_serial_sequence(%s, %s) AS sequence, (SELECT max({column}) FROM "
                    f"{table}) AS largest) AS s WHERE sequence IS NOT NULL AND largest IS NOT NULL",
                    (table, column),
                )

    def data_version(self) -> int:
        """SQLite's data_version tells whether another connection committed; PostgreSQL keeps no
        such number, so every look says "maybe": what was cached is read again."""
        return next(self._versions)

    def _run(self, sql: str) -> list[Any]:
        return self._run_with(sql, None)

    def _run_with(self, sql: str, params: Sequence[Any] | None) -> list[Any]:
        """A statement in PostgreSQL's own words (%s parameters), untranslated."""
        try:
            cursor = self.raw.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            raise _error(error, self.raw) from None


_SPECIAL = {
    "BEGIN IMMEDIATE": Connection._begin_write,
    # A read: one snapshot, as SQLite's deferred BEGIN in WAL mode.
    "BEGIN": Connection._begin_read,
}


def connect(url: str, write: bool = True) -> Connection | None:
    """Open the state in the database at `url` (created and migrated if the schema is empty).
    Without `write` nothing is created or migrated, and an empty schema is None (nothing there
    yet): a reader such as a forecast only looks."""
    try:
        raw = psycopg.connect(
            url,
            autocommit=True,  # refcamp begins and commits itself, one transaction per request
            # Statements run again are prepared on the server (parsed and planned once): a
            # replay runs the same few dozen over and over.
            prepare_threshold=2,
            row_factory=_rows,
            connect_timeout=10,
        )
    except psycopg.Error as error:
        # Whatever keeps the connection from being made (a server stopped or restarting, a
        # closed port, a refused login): a command stops with exit 2, a server answers 503.
        first = (str(error).strip().splitlines() or ["cannot connect"])[0]
        raise StateUnreachable(f"database {shown(url)}: {first}") from None
    raw.adapters.register_loader("numeric", _Number)
    conn = Connection(raw, url)
    try:
        conn._run(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        version = _check_owner(conn, url)
        if not write and version == 0:
            conn.close()
            return None
        if write and version < len(MIGRATIONS):
            migrate(conn)
    except DatabaseUnavailable as error:
        conn.close()
        raise StateUnreachable(f"database {shown(url)}: {error.detail}") from None
    except DatabaseError as error:
        conn.close()
        raise StateFileError(f"database {shown(url)}: {error.detail}") from None
    except StateFileError:
        conn.close()
        raise
    return conn


def _check_owner(conn: Connection, url: str) -> int:
    """Refuse a schema that is not refcamp's or is too new; returns its schema version (the
    migrations recorded)."""
    tables = {
        row[0]
        for row in conn._run(
            # pg_class rather than information_schema.tables: a tenth of the time, at every start
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind IN ('r', 'p', 'v', 'm', 'f')"
        )
    }
    if not tables:
        return 0
    first = None
    if "migrations" in tables:
        rows = conn._run(
            "SELECT name, (SELECT max(number) FROM migrations) FROM migrations WHERE number = 1"
        )
        first, version = rows[0] if rows else (None, 0)
    if first != MIGRATIONS[0].__name__:
        raise StateFileError(f"database {shown(url)} holds tables, but not refcamp's")
    if version > len(MIGRATIONS):
        raise StateFileError(
            f"database {shown(url)} was written by a newer refcamp (schema {version}, this one "
            f"knows {len(MIGRATIONS)}); upgrade refcamp"
        )
    return int(version)


def migrate(conn: Connection) -> list[str]:
    """Apply the migrations not yet recorded, each with its record in one transaction."""
    applied = []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn._run(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(rowid BIGINT GENERATED BY DEFAULT AS IDENTITY, number BIGINT PRIMARY KEY, "
                'name TEXT COLLATE "C" NOT NULL, applied TEXT COLLATE "C" NOT NULL)'
            )
            version = conn._run("SELECT coalesce(max(number), 0) FROM migrations")[0][0]
            if version >= len(MIGRATIONS):
                conn._run("COMMIT")
                return applied
            step = MIGRATIONS[version]
            step(conn)  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO migrations (number, name, applied) VALUES (?, ?, "
                "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
                (version + 1, step.__name__),
            )
        except BaseException:
            conn._run("ROLLBACK")
            raise
        conn._run("COMMIT")
        applied.append(step.__name__)
