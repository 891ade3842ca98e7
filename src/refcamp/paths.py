"""Where refcamp's files live: the state database and the campaign directory."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from refcamp.errors import InputError

SAMPLES = Path(__file__).parent / "samples"


class DatabaseUrl(str):
    """A PostgreSQL database named by URL (postgresql://user:password@host:port/dbname) in place
    of a state file. Printed, it shows no password."""

    __slots__ = ()

    def __str__(self) -> str:
        return shown(self)


SCHEMES = ("postgresql://", "postgres://")

# Where refcamp's state lives: a SQLite file, or a PostgreSQL database.
Location = Path | DatabaseUrl


def location(text: str | Path) -> Location:
    """A --db or REFCAMP_DB value: a URL names a database, anything else a file."""
    if isinstance(text, str) and text.startswith(SCHEMES):
        return DatabaseUrl(text)
    return Path(text)


def shown(url: str) -> str:
    """A database URL without its password (in the address or as a parameter)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def named(where: Location) -> str:
    """How messages call where the state lives: "state file PATH" or "database URL"."""
    return f"database {where}" if isinstance(where, DatabaseUrl) else f"state file {where}"


def db_path(given: str | Path | None = None) -> Location:
    """The state named (--db or REFCAMP_DB: settings.Settings.db), else the user data
    directory's refcamp.db."""
    if given is not None:
        if given == "":  # Path("") would be the current folder
            raise InputError("--db needs a value, got an empty one (an empty variable?)")
        return location(given)
    from platformdirs import user_data_path

    return user_data_path("refcamp", appauthor=False) / "refcamp.db"


def campaigns_dir(given: Path | None = None) -> Path:
    """The campaigns named (--campaigns or REFCAMP_CAMPAIGNS: settings.Settings.campaigns), else
    ./campaigns when it exists, else the samples."""
    if given is not None:
        return given
    local = Path("campaigns")
    if local.is_dir():
        return local
    return SAMPLES


LARGEST_FILE = 4 << 20  # bytes: a campaign file is a few kilobytes; more is a mistake or an attack


def read_regular(path: Path, limit: int = LARGEST_FILE) -> bytes:
    """A campaign file's bytes. Only a regular file is read: a FIFO named x.toml would make every
    command wait for a writer, and a device such as /dev/zero would never end. Opened without
    blocking, so even the open of a FIFO returns at once; raises OSError with a sentence."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a socket)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB")
    return data
