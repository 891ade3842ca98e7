"""Opening the state file and running one transaction per request.

The file is created with mode 0600 (an empty file found in its place is made so), in WAL mode, with
a busy timeout long enough that shell scripts running refcamp in parallel wait for each other
instead of failing. A path that is not a regular file (a named pipe, a device, a directory, a
broken or looping symbolic link, or any of these as its -wal/-shm/-journal), or a file that is not
SQLite, not refcamp's, or from a newer refcamp is refused before SQLite opens it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from refcamp.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseFull,
    DatabaseIntegrity,
    DatabaseUnavailable,
    StateFileError,
)
from refcamp.paths import DatabaseUrl, Location
from refcamp.store.connection import Connection
from refcamp.store.migrations import APPLICATION_ID, MIGRATIONS

BUSY_TIMEOUT_MS = 30_000
SQLITE_HEADER = b"SQLite format 3\x00"


def translate(error: sqlite3.Error) -> Exception:
    """SQLite's error as refcamp's (errors.DatabaseError and its kinds): nothing above the store
    catches a driver's exception. A misuse of the driver (a closed connection, a wrong number of
    parameters) is a bug and stays what it is."""
    if isinstance(error, sqlite3.InterfaceError | sqlite3.ProgrammingError):
        return error
    name = getattr(error, "sqlite_errorname", "") or ""
    if isinstance(error, sqlite3.IntegrityError):
        return DatabaseIntegrity(error)
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(error):
        return DatabaseBusy(error)
    if name == "SQLITE_FULL" or "full" in str(error):
        return DatabaseFull(error)
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return DatabaseUnavailable(error)
    return DatabaseError(error)


class StoreConnection(sqlite3.Connection):
    """sqlite3's connection, raising refcamp's errors (translate) instead of sqlite3's. The
    statements refcamp runs go through execute and executemany; a row fetched later fails only
    on a damaged file, which the doors answer as a bug."""

    def execute(self, sql: str, parameters: object = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.Error as error:
            raise translate(error) from error

    def executemany(self, sql: str, parameters: object, /) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.Error as error:
            raise translate(error) from error

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as error:
            raise translate(error) from error


def _writable(path: Path) -> bool:
    """Writable, and not marked read-only: a file whose write bits are all off was made
    read-only on purpose, so refcamp leaves it alone even when running as root."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


# What a path that is not a regular file is, in the words of the error message. SQLite (and the
# header read) would wait forever on a named pipe and fail halfway through a command on a device.
KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFIFO: "named pipe",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}
# The files SQLite keeps beside a state file, which it opens as blindly as the file itself.
SIBLINGS = ("-wal", "-shm", "-journal")


def _stat(path: Path, name: str) -> os.stat_result | None:
    """The file at `path`, symbolic links followed; None when there is none (to be created).
    `name` is how an error message calls it."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):  # SQLite would create the target, with the umask's mode
            raise StateFileError(
                f"{name} is a symbolic link to {os.readlink(path)}, which does not exist"
            ) from None
        return None
    except OSError as error:  # a symbolic-link loop, a path through a file, no permission
        raise StateFileError(f"{name}: {error.strerror}") from None


def _check_kind(info: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = KINDS.get(stat.S_IFMT(info.st_mode), "special file")
        raise StateFileError(f"{name} is a {kind}, not a regular file")


def _siblings(path: Path) -> list[Path]:
    """The -wal, -shm and -journal paths of a state file, beside the path given and beside the
    file a symbolic link leads to (where SQLite puts them)."""
    bases = dict.fromkeys((str(path), os.path.realpath(path)))
    return [Path(f"{base}{suffix}") for base in bases for suffix in SIBLINGS]


def _check_file(path: Path, info: os.stat_result, write: bool = True) -> None:
    """Refuse, before SQLite opens anything, a state file that is not a regular file (or has
    something else beside it), is read-only (when writing) or is not SQLite."""
    _check_kind(info, f"state file {path}")
    for sibling in _siblings(path):
        name = f"{sibling} (SQLite's file beside the state file)"
        found = _stat(sibling, name)
        if found is not None:
            _check_kind(found, name)
    # SQLite would open a read-only file and fail at the first write, halfway through a command;
    # WAL mode also needs to create files beside it.
    if write and not _writable(path):
        raise StateFileError(f"state file {path} is read-only; refcamp needs to write it")
    if write and not _writable(path.parent):
        raise StateFileError(
            f"the folder of state file {path} is read-only; refcamp needs to write beside it"
        )
    try:
        # O_NONBLOCK: should a pipe have been swapped in since the check, the open does not wait
        # for a writer; fstat then sees it.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise StateFileError(f"cannot read state file {path}: {error.strerror}") from None
    try:
        _check_kind(os.fstat(handle), f"state file {path}")
        header = os.read(handle, len(SQLITE_HEADER))
    except OSError as error:
        raise StateFileError(f"cannot read state file {path}: {error.strerror}") from None
    finally:
        os.close(handle)
    if header and header != SQLITE_HEADER:
        raise StateFileError(f"state file {path} is not a SQLite database")


def _make_private(path: Path) -> None:
    """An empty state file is one still to be made: give it (and any -wal/-shm left beside it)
    the mode refcamp creates state files with. SQLite gives the -wal/-shm files it creates the
    state file's mode, so they follow."""
    for target in (path, *_siblings(path)):
        try:
            if os.stat(target).st_mode & 0o077:
                os.chmod(target, 0o600)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise StateFileError(
                f"cannot make state file {target} private (mode 0600): {error.strerror}"
            ) from None


def _create(path: Path, make_folder: bool) -> None:
    if path.parent.exists() and not _writable(path.parent):
        raise StateFileError(f"cannot create state file {path}: its folder is read-only")
    if not make_folder and not path.parent.is_dir():
        raise StateFileError(
            f"cannot create state file {path}: its folder {path.parent} does not exist "
            "(a mistyped path? refcamp makes no folders for a state file it is given)"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never truncate a file another process created a moment ago.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        raise StateFileError(f"cannot create state file {path}: {error.strerror}") from None


def connect(path: Location, make_folder: bool = True) -> Connection:
    """Open (creating and migrating if needed) the refcamp database at `path`; its missing
    folders are made only with `make_folder`. A PostgreSQL URL opens that database instead
    (store.postgres: its connection takes the same SQL and gives the same rows)."""
    if isinstance(path, DatabaseUrl):
        return _open_postgres(path, write=True)  # type: ignore[return-value]
    info = _stat(path, f"state file {path}")
    if info is None:
        _create(path, make_folder)
    else:
        _check_file(path, info)
        if info.st_size == 0:
            _make_private(path)
    try:
        # isolation_level=None: refcamp issues BEGIN IMMEDIATE itself, one per request.
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, factory=StoreConnection
        )
    except sqlite3.DatabaseError as error:
        raise StateFileError(f"state file {path}: {error}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = _check_owner(conn, path)
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if version < len(MIGRATIONS):  # an up-to-date file costs no write lock at start
            migrate(conn)
    except (sqlite3.DatabaseError, DatabaseError) as error:
        conn.close()
        raise StateFileError(f"state file {path}: {error}") from None
    except StateFileError:
        conn.close()  # a refused file keeps no connection (nor -wal/-shm files beside it)
        raise
    return conn


def read_only(path: Location) -> Connection | None:
    """A connection that reads the state file and writes nothing, neither in it nor beside it
    (simulate reads campaign states so); None when there is no file, or nothing in it yet.

    While another process has the file open, its latest commits may be in the -wal file only:
    they are read through the -wal and -shm files that process keeps (mode=ro). Without them
    nobody has the file open, and immutable=1 reads it without creating them (mode=ro alone
    would, and leave them behind)."""
    from urllib.parse import quote

    if isinstance(path, DatabaseUrl):
        return _open_postgres(path, write=False)  # type: ignore[return-value]
    info = _stat(path, f"state file {path}")
    if info is None:
        return None
    _check_file(path, info, write=False)
    live = all(Path(f"{os.path.realpath(path)}{s}").exists() for s in ("-wal", "-shm"))
    uri = f"file:{quote(os.path.realpath(path))}?mode=ro" + ("" if live else "&immutable=1")
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            factory=StoreConnection,
        )
    except sqlite3.DatabaseError as error:
        raise StateFileError(f"state file {path}: {error}") from None
    try:
        conn.row_factory = sqlite3.Row
        if _check_owner(conn, path) == 0:
            conn.close()
            return None
    except (sqlite3.DatabaseError, DatabaseError) as error:
        conn.close()
        raise StateFileError(f"state file {path}: {error}") from None
    except StateFileError:
        conn.close()
        raise
    return conn


def _open_postgres(url: DatabaseUrl, write: bool) -> object:
    """store.postgres.connect, or one clear line when psycopg is not installed."""
    try:
        from refcamp.store import postgres
    except ImportError:
        raise StateFileError(
            f"database {url}: PostgreSQL needs its driver, psycopg: "
            "pip install 'refcamp[postgresql]'"
        ) from None
    return postgres.connect(url, write=write)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL mode. SQLite answers a mode change on a file another process is writing
    (typically creating it) with "database is locked" at once, without the busy handler, so
    this waits by itself, up to the busy timeout."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except DatabaseBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _check_owner(conn: sqlite3.Connection, path: Path) -> int:
    """Refuse a file that is not refcamp's or is too new; returns its schema version."""
    # One read transaction, so the three answers come from one snapshot even while another
    # process is creating and migrating the same new file.
    conn.execute("BEGIN")
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        conn.execute("COMMIT")
    if application_id == 0:
        if tables:
            raise StateFileError(f"state file {path} is a SQLite database, but not refcamp's")
        return 0
    if application_id != APPLICATION_ID:
        raise StateFileError(f"state file {path} is a SQLite database, but not refcamp's")
    if version > len(MIGRATIONS):
        raise StateFileError(
            f"state file {path} was written by a newer refcamp (schema {version}, this one "
            f"knows {len(MIGRATIONS)}); upgrade refcamp"
        )
    return int(version)


def migrate(conn: Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns their names."""
    applied = []
    while True:
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return applied
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations "
                    "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
                )
            step = MIGRATIONS[version]
            step(conn)
            conn.execute(
                "INSERT INTO migrations (number, name, applied) "
                "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                (version + 1, step.__name__),
            )
            conn.execute(f"PRAGMA user_version = {version + 1}")
            applied.append(step.__name__)


@contextmanager
def snapshot(conn: Connection) -> Iterator[Connection]:
    """A read transaction: one consistent view, without waiting for writers (WAL). Inside an
    open transaction (the server's group of requests) that transaction is the view."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")


def transaction(conn: Connection, commit: bool = True) -> Transaction:
    """BEGIN IMMEDIATE ... COMMIT; rolled back on any error, or always when commit is False.

    Inside an open transaction (replay batches many requests into one commit) it is a savepoint
    instead, so each request is still all or nothing on its own."""
    return Transaction(conn, commit)


class Transaction:
    """transaction()'s context manager; a class, because a generator-based one costs every
    request of a replay about 2 µs."""

    __slots__ = ("commit", "conn", "nested")

    def __init__(self, conn: Connection, commit: bool) -> None:
        self.conn = conn
        self.commit = commit
        self.nested = False

    def __enter__(self) -> Connection:
        self.nested = self.conn.in_transaction
        self.conn.execute("SAVEPOINT request" if self.nested else "BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        keep = kind is None and self.commit
        if self.nested:
            if not keep:
                self.conn.execute("ROLLBACK TO request")
            self.conn.execute("RELEASE request")
        else:
            self.conn.execute("COMMIT" if keep else "ROLLBACK")


@contextmanager
def batches(
    conn: Connection,
    lines: int = 2000,
    seconds: float = 0.5,
    before_commit: Callable[[], None] | None = None,
) -> Iterator[Callable[[], bool]]:
    """One transaction per batch of requests (each request a savepoint inside it), for replays and
    simulations: a crash loses at most the batch in progress, and only whole requests. The caller
    calls the yielded function after each request; it commits when the batch is full, after
    `before_commit` (which writes what must be committed with the batch)."""
    state = {"count": 0, "since": time.monotonic()}

    def after_request() -> bool:
        state["count"] += 1
        if state["count"] >= lines or time.monotonic() - state["since"] > seconds:
            if before_commit is not None:
                before_commit()
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            state["count"], state["since"] = 0, time.monotonic()
            return True
        return False

    conn.execute("BEGIN IMMEDIATE")
    try:
        yield after_request
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if before_commit is not None:
        before_commit()
    conn.execute("COMMIT")


# The transaction verbs of a door that commits many requests together (replay, simulate): the
# one place their SQL is written.


def begin(conn: Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def try_begin(conn: Connection) -> bool:
    """Begin at once, or False while another connection holds the write lock (for a caller that
    waits its own way: the HTTP server's event loop stays free)."""
    if _postgres(conn):
        return conn.try_begin()  # type: ignore[attr-defined]
    try:
        conn.execute("BEGIN IMMEDIATE")
    except DatabaseBusy:
        return False
    return True


def savepoint(conn: Connection, name: str) -> None:
    conn.execute(f"SAVEPOINT {name}")  # name: refcamp's own constant, never user data


def release(conn: Connection, name: str) -> None:
    conn.execute(f"RELEASE {name}")


def undo_to(conn: Connection, name: str) -> None:
    """Undo what was done since the savepoint, and drop it."""
    conn.execute(f"ROLLBACK TO {name}")
    conn.execute(f"RELEASE {name}")


def for_server(conn: Connection, mmap_bytes: int) -> None:
    """A long-running server's connection: it never waits in SQLite for the write lock (its
    event loop does), and reads pages through a memory map instead of a read() each (a fifth
    less CPU per request; writes still go through write(), so a full disk is an error)."""
    if _postgres(conn):
        return  # the server's event loop uses try_begin; pages are the database server's
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")


def commit(conn: Connection) -> None:
    conn.execute("COMMIT")


def rollback(conn: Connection) -> None:
    """Roll back the open transaction, if SQLite has not already given it up; a rollback that
    fails leaves nothing to undo."""
    if conn.in_transaction:
        with contextlib.suppress(DatabaseError):
            conn.execute("ROLLBACK")


def data_version(conn: Connection) -> int:
    """Changes whenever another connection commits to the database."""
    if _postgres(conn):
        return conn.data_version()  # type: ignore[attr-defined,no-any-return]
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def checkpoint(conn: Connection) -> None:
    """Everything committed into the file itself, none left in the -wal (a file to hand on)."""
    if not _postgres(conn):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _postgres(conn: Connection) -> bool:
    """Whether the connection is to PostgreSQL (store.postgres.Connection), where the few
    verbs SQLite spells as PRAGMAs are the connection's own."""
    return not isinstance(conn, sqlite3.Connection)
