"""What the state file says as a whole: a campaign's cost and reach, every invariant
(`db check`), and moving it whole to another database (`db copy`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from refcamp.errors import StateFileError
from refcamp.models import CampaignStats
from refcamp.service.lookup import find_campaign
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import snapshot, transaction


def campaign_stats(ws: Workspace, campaign_id: str, point_value: float = 0.01) -> CampaignStats:
    """What a campaign has cost and achieved, from what the state file holds.

    Cost = net points (issued - rolled back - deducted) x point_value + discount given - discount
    rolled back; cost per acquired customer divides it by the customers who came through a
    referral that still stands."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    with snapshot(ws.conn):
        figures = queries.campaign_figures(ws.conn, campaign.id)
    points = sum(p.net for p in figures.points.values())
    discount = figures.discount_given - figures.discount_rolled_back
    cost = round(points * point_value + discount, 2)
    acquired = figures.acquired_customers
    return CampaignStats(
        campaign_id=campaign.id,
        name=campaign.name,
        figures=figures,
        point_value=point_value,
        cost=cost,
        cost_per_acquired_customer=round(cost / acquired, 2) if acquired else None,
    )


def check_state(ws: Workspace) -> list[str]:
    """Every violated invariant of the state file (empty when sound)."""
    from refcamp.store.check import check  # db check alone needs it: every command imports this

    conn = ws.stored
    programs: Any = ws.catalog.programs if ws.campaigns_dir.exists() else {}
    with snapshot(conn):
        if ws.broken_catalog:  # which programs exist cannot be known
            programs = queries.ledger_programs(conn)
        return check(conn, programs, ws.now)


def copy_state(source: Workspace, target: Workspace) -> dict[str, int]:
    """Copy the whole state of `source` into `target` (a SQLite file or a PostgreSQL database,
    either way), in one transaction: both are checked first (the source must be sound, the target
    new or empty) and the copy after; returns the rows copied per table. A failed copy leaves the
    target as it was (a file it created is removed)."""
    from refcamp.store import copy  # db copy alone needs it

    if str(source.db_path) == str(target.db_path):
        raise StateFileError(f"{source.db_path} is both FROM and TO; copy to another place")
    problems = check_state(source)
    if problems:
        raise StateFileError(
            f"{source.db_path} is not sound ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}: {problems[0]}; `refcamp db check` lists them); "
            "nothing copied"
        )
    created = isinstance(target.db_path, Path) and not os.path.lexists(target.db_path)
    try:
        with snapshot(source.conn), transaction(target.conn):
            if not copy.is_empty(target.conn):
                raise StateFileError(
                    f"{target.db_path} already holds a state; db copy writes only into a new "
                    "file or an empty database"
                )
            copied = copy.copy(source.conn, target.conn)
    except BaseException:
        if created:
            target.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target.db_path}{suffix}").unlink(missing_ok=True)
        raise
    return copied
