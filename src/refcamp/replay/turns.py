"""Fairness: the pauses after a replay's commits that let other writers to the state file in."""

from __future__ import annotations

import time

from refcamp.service.workspace import Workspace

# Other writers: SQLite's busy handler retries a locked write every 100 ms once it has waited a
# third of a second, so a replay that commits and begins again at once can keep a command waiting
# until its 30 s timeout. A pause longer than that retry lets every waiting writer in. While
# nobody else writes, a pause comes every PAUSE_EVERY seconds (3% of a replay's time); after a
# pause in which others wrote, after every batch; a pause lasts while others keep writing, up to
# PAUSE_AT_MOST.
PAUSE_SECONDS = 0.15
PAUSE_EVERY = 5.0
PAUSE_AT_MOST = 1.0


class Turns:
    """Pauses after commits that let processes waiting to write to the state file in: every
    PAUSE_EVERY seconds, and after every batch while others have written during a pause in the
    last PAUSE_EVERY seconds (a shell loop of commands comes back for its next turn).

    Only SQLite needs them: its writers poll for the lock, so one that waits may never find it
    free. PostgreSQL queues lock requests: a writer waiting for the state's write lock gets it
    before this replay's next batch, without a pause (and its data_version cannot tell whether
    another wrote: it changes at every look, which made every batch pause)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.last = time.monotonic()  # the last pause
        self.others = -PAUSE_EVERY  # the last time others wrote during a pause

    def _version(self) -> int:
        return self.ws.data_version()

    def after_commit(self) -> None:
        if self.ws.on_server:
            return
        started = time.monotonic()
        if started - self.others >= PAUSE_EVERY and started - self.last < PAUSE_EVERY:
            return
        version = self._version()
        while True:
            time.sleep(PAUSE_SECONDS)
            latest = self._version()  # changes when another connection has committed
            if latest == version:
                break
            version, self.others = latest, time.monotonic()
            if self.others - started >= PAUSE_AT_MOST:
                break
        self.last = time.monotonic()
