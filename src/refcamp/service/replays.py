"""What the state file keeps of replayed logs: how far each got, by the log's identity and a
digest of its lines applied, with the lines that failed. A replay commits its progress in the
same transaction as the requests of its batch, so a crash never loses one without the other."""

from __future__ import annotations

from refcamp import clock
from refcamp.service.workspace import Workspace
from refcamp.store import queries

Row = tuple[str, str, int, str, str]  # fingerprint, source, lines, updated, failed lines


def logs(ws: Workspace, identity: str) -> list[Row]:
    """Every log known by `identity` (its first line), fewest lines first."""
    return queries.replay_logs(ws.conn, identity)


def logs_from(ws: Workspace, source: str) -> list[Row]:
    """The logs replayed from the file `source` that had failed lines, fewest lines first."""
    return queries.replay_logs_from(ws.conn, source)


def lines_done(ws: Workspace, fingerprint: str) -> int:
    """How many lines of a log the progress row `fingerprint` says were applied (0: none)."""
    return queries.replay_progress(ws.conn, fingerprint)


def save(
    ws: Workspace,
    fingerprint: str,
    source: str,
    lines: int,
    replaces: str | None = None,
    failed: str = "",
) -> None:
    """Record a log's progress (replacing the row `replaces`), dated with the workspace's now."""
    queries.save_replay_progress(
        ws.conn, fingerprint, source, lines, clock.iso(ws.now), replaces=replaces, failed=failed
    )
