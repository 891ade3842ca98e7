"""refcamp's exceptions. The core raises them with sentences a user can act on; only the CLI turns
them into a message on stderr and an exit code (0 success, 1 cannot be done, 2 invalid input)."""

from __future__ import annotations

from typing import Any


class RefcampError(Exception):
    """Something the user asked for cannot be done now (exit 1)."""

    exit_code = 1


class NotFoundError(RefcampError):
    """A thing asked for does not exist (exit 1)."""


class ConflictError(RefcampError):
    """The request contradicts the current state, e.g. a code that already exists (exit 1)."""


class InputError(RefcampError):
    """Invalid input: arguments, payloads, files (exit 2).

    `field` names the request field at fault when there is one (the message then starts with
    "FIELD:"): a door may name it in its own words (the CLI says the option a person typed)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @classmethod
    def about(cls, field: str, problem: str) -> InputError:
        """ "FIELD: problem", with the field kept for the door."""
        return cls(f"{field}: {problem}", field)


class CampaignFileError(InputError):
    """One or more campaign files are invalid; every problem is listed, each naming its place."""

    def __init__(self, problems: list[Any]) -> None:  # tables.Problem: each reads as a sentence
        self.problems = problems
        count = len(problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"invalid campaigns ({head}):\n" + "\n".join(f"  {p}" for p in problems))


class StateFileError(InputError):
    """The state file cannot be used: not SQLite, not refcamp's, too new, or not writable."""


class DatabaseError(RefcampError):
    """SQLite could not do what was asked, for a reason outside the request: the state file
    stayed locked, the disk is full, the file is read-only (exit 1). Made by `from_sqlite`, so
    that every door says it the same way."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"database: {error}")
        # Worth trying again later (a lock held too long, a full disk), as the HTTP door says
        # with 503.
        self.transient = any(w in str(error) for w in ("locked", "busy", "full", "not saved"))


def from_sqlite(error: BaseException) -> DatabaseError | None:
    """refcamp's error for an error SQLite raised while the store worked (its OperationalError);
    None for anything else, which is a bug."""
    import sqlite3  # only when something failed: errors is imported by every module

    return DatabaseError(error) if isinstance(error, sqlite3.OperationalError) else None
