"""How far each replayed log got, and which of its lines failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def replay_progress(conn: Connection, fingerprint: str) -> int:
    row = conn.execute("SELECT lines FROM replays WHERE fingerprint = ?", (fingerprint,)).fetchone()
    return row[0] if row else 0


def replay_logs(conn: Connection, identity: str) -> list[tuple[str, str, int, str, str]]:
    """The progress of every log known by `identity`, fewest lines first: rows whose fingerprint
    is "IDENTITY:DIGEST" (the digest of the lines done), with the lines among them that failed
    (ranges: "3-5,9")."""
    rows = conn.execute(
        "SELECT fingerprint, source, lines, updated, failed FROM replays "
        "WHERE fingerprint > ? AND fingerprint < ? ORDER BY lines",
        (identity + ":", identity + ";"),  # ";" follows ":" in ASCII: every IDENTITY:... row
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def replay_logs_from(conn: Connection, source: str) -> list[tuple[str, str, int, str, str]]:
    """The logs replayed from the file `source` that had failed lines, fewest lines first."""
    rows = conn.execute(
        "SELECT fingerprint, source, lines, updated, failed FROM replays "
        "WHERE source = ? AND failed != '' ORDER BY lines",
        (source,),
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def save_replay_progress(
    conn: Connection,
    fingerprint: str,
    source: str,
    lines: int,
    updated: str | None,
    replaces: str | None = None,
    failed: str = "",
) -> None:
    """Record a replay's progress under `fingerprint`, in place of the row `replaces`, with its
    failed lines (ranges: "3-5,9")."""
    if replaces is not None and replaces != fingerprint:
        conn.execute("DELETE FROM replays WHERE fingerprint = ?", (replaces,))
    conn.execute(
        "INSERT INTO replays (fingerprint, source, lines, updated, failed) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (fingerprint) DO UPDATE SET lines = excluded.lines, "
        "source = excluded.source, updated = excluded.updated, failed = excluded.failed",
        (fingerprint, source, lines, updated, failed),
    )
