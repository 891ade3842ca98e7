"""What a run of refcamp is told from outside: options, else environment variables.

Built once by a door (the CLI's root callback; `refcamp serve` through it) and handed down in the
workspace: nothing below the doors reads the environment, so a test builds the Settings it needs
instead of changing variables, and two workspaces in one process (the console's forecast beside
the server) never share a setting by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from refcamp.errors import InputError

DEFAULT_LOG_SIZE = 1000
LARGEST_LOG_SIZE = 1_000_000


@dataclass(frozen=True)
class Settings:
    # Where the state lives: a file's path or a postgresql:// URL (--db, else REFCAMP_DB); None
    # is refcamp's default file in the user data directory.
    db: str | Path | None = None
    # The campaign directory or file (--campaigns, else REFCAMP_CAMPAIGNS); None: ./campaigns
    # when it exists, else the shipped samples.
    campaigns: Path | None = None
    # The simulated time as given (--now, else REFCAMP_NOW), and which of the two gave it (for
    # messages); None is the real clock.
    now: str | None = None
    now_name: str = "--now"
    # Codes from a generator seeded with this (REFCAMP_SEED): reproducible, and predictable.
    seed: str | None = None
    # How many requests the request log keeps (REFCAMP_REQUEST_LOG; 0 keeps none).
    request_log: int = DEFAULT_LOG_SIZE
    # Tracebacks instead of one-line errors (REFCAMP_DEBUG).
    debug: bool = False
    # Where validated campaign sets are cached (XDG_CACHE_HOME/refcamp); None: no cache.
    cache: Path | None = None

    @property
    def db_given(self) -> bool:
        """Whether the state was named (--db or REFCAMP_DB) rather than refcamp's default: a
        named file's folder must exist (a typo makes no folders); the default's is made."""
        return self.db is not None

    def but(self, **changes: object) -> Settings:
        """These settings with some changed (a scratch state for a demo or a simulation)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def read(
        cls,
        environ: Mapping[str, str],
        db: str | None = None,
        campaigns: Path | None = None,
        now: str | None = None,
    ) -> Settings:
        """The options given, else the environment's variables. An empty REFCAMP_DB or
        REFCAMP_CAMPAIGNS is unset; an empty --now or REFCAMP_NOW is an error when the time is
        read (an empty shell variable must not turn a simulated time into today)."""
        now_name = "--now"
        if now is None and environ.get("REFCAMP_NOW") is not None:
            now, now_name = environ["REFCAMP_NOW"], "REFCAMP_NOW"
        if campaigns is None and environ.get("REFCAMP_CAMPAIGNS"):
            campaigns = Path(environ["REFCAMP_CAMPAIGNS"])
        return cls(
            db=db if db is not None else environ.get("REFCAMP_DB") or None,
            campaigns=campaigns,
            now=now,
            now_name=now_name,
            seed=environ.get("REFCAMP_SEED") or None,
            request_log=_log_size(environ.get("REFCAMP_REQUEST_LOG")),
            debug=environ.get("REFCAMP_DEBUG", "") not in ("", "0"),
            cache=_cache(environ),
        )


def _log_size(text: str | None) -> int:
    if text is None or not text.strip():
        return DEFAULT_LOG_SIZE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= LARGEST_LOG_SIZE:
        raise InputError(
            f"REFCAMP_REQUEST_LOG: expected a number of requests from 0 to {LARGEST_LOG_SIZE}, "
            f"got {text!r}"
        )
    return value


def _cache(environ: Mapping[str, str]) -> Path | None:
    """XDG_CACHE_HOME/refcamp (else ~/.cache/refcamp) on Linux; platformdirs' elsewhere."""
    import sys

    if sys.platform.startswith("linux"):  # without importing platformdirs at every start
        base = environ.get("XDG_CACHE_HOME") or (
            str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else None
        )
        return Path(base) / "refcamp" if base else None
    from platformdirs import user_cache_path

    return user_cache_path("refcamp", appauthor=False)
