"""What the state file says as a whole: a campaign's cost and reach, and every invariant
(`db check`)."""

from __future__ import annotations

from typing import Any

from refcamp.service.lookup import find_campaign
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import snapshot


def campaign_stats(ws: Workspace, campaign_id: str, point_value: float = 0.01) -> dict[str, Any]:
    """What a campaign has cost and achieved, from what the state file holds.

    Cost = net points (issued - rolled back - deducted) x point_value + discount given - discount
    rolled back; cost per acquired customer divides it by the customers who came through a
    referral that still stands."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    with snapshot(ws.conn):
        figures = queries.campaign_figures(ws.conn, campaign.id)
    points = sum(p["net"] for p in figures["points"].values())
    discount = figures["discount"]["given"] - figures["discount"]["rolledBack"]
    cost = round(points * point_value + discount, 2)
    acquired = figures["acquiredCustomers"]
    return {
        "campaignId": campaign.id,
        "name": campaign.name,
        **figures,
        "pointValue": point_value,
        "cost": cost,
        "costPerAcquiredCustomer": round(cost / acquired, 2) if acquired else None,
    }


def check_state(ws: Workspace) -> list[str]:
    """Every violated invariant of the state file (empty when sound)."""
    from refcamp.store.check import check  # db check alone needs it: every command imports this

    conn = ws.stored
    programs: Any = ws.catalog.programs if ws.campaigns_dir.exists() else {}
    with snapshot(conn):
        if ws.broken_catalog:  # which programs exist cannot be known
            programs = [r[0] for r in conn.execute("SELECT DISTINCT program_id FROM ledger")]
        return check(conn, programs, ws.now)
