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


class StateUnreachable(StateFileError):
    """The database server holding the state cannot be reached (stopped, restarting, a closed
    port). A command says so and stops (exit 2: check the URL); a running server answers 503 and
    connects again at the next request."""

    transient = True


class DatabaseError(RefcampError):
    """The database holding the state could not do what was asked, for a reason outside the
    request (exit 1). The store raises it, whichever engine holds the state (store.db for
    SQLite, store.postgres for PostgreSQL), so no door ever sees a driver's exception; each kind
    says whether trying again later may work (`transient`: the HTTP door's 503)."""

    transient = False

    def __init__(self, detail: object) -> None:
        super().__init__(f"database: {detail}")
        self.detail = str(detail)

    @property
    def why(self) -> str:
        """Why a batch of requests was lost, in a few words (replay's message)."""
        return f"database: {self.detail}"


class DatabaseBusy(DatabaseError):
    """Another process held the write lock for longer than refcamp waits."""

    transient = True

    @property
    def why(self) -> str:
        return f"the state stayed locked by another process ({self.detail})"


class DatabaseFull(DatabaseError):
    """The disk holding the state is full: nothing of the request was written."""

    transient = True

    @property
    def why(self) -> str:
        return "disk full"


class DatabaseUnavailable(DatabaseError):
    """The state cannot be read or written now: an I/O error, or the connection to the database
    server was lost (it stopped or restarted). The connection is opened again for the next
    request."""

    transient = True

    @property
    def why(self) -> str:
        return f"I/O error ({self.detail})"


class DatabaseIntegrity(DatabaseError):
    """A constraint of the schema refused a write (a row edited by hand, or a bug)."""
