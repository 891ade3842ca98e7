"""Campaigns with their states (the state file's, else the TOML's), switching a campaign on or
off, and the feature check code creation needs."""

from __future__ import annotations

from pathlib import Path

from refcamp.errors import InputError
from refcamp.models import Campaign
from refcamp.service.lookup import find_campaign
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import read_only, transaction


def campaigns(ws: Workspace) -> list[tuple[Campaign, str]]:
    """Every campaign with its current state."""
    catalog = ws.catalog
    with transaction(ws.conn):
        queries.see_campaigns(ws.conn, catalog, ws.now)
        states = queries.campaign_states(ws.conn)
    return [(c, states.get(c.id, c.state)) for c in catalog.campaigns]


def unreachable_codes(ws: Workspace) -> dict[str, int]:
    """Campaigns with codes in the state file but no file in the campaign directory in use: their
    codes are rejected until a directory with them is used again."""
    known = {c.id for c in ws.catalog.campaigns}
    return {c: n for c, n in queries.codes_by_campaign(ws.conn).items() if c not in known}


def require_feature(campaign: Campaign, feature: str, what: str) -> None:
    """Codes only for a campaign that has the feature, as Talon.One refuses them otherwise. A
    campaign that declares no features at all (the TOML default) is not restricted."""
    if campaign.features and feature not in campaign.features:
        raise InputError(
            f"campaign {campaign.id} has no {feature} feature, so it takes no {what} "
            f"(its features: {', '.join(campaign.features)})"
        )


def set_campaign_state(ws: Workspace, campaign_id: str, state: str) -> tuple[Campaign, str]:
    """Set a campaign's state; returns the campaign and its previous state."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    with transaction(ws.conn):
        queries.see_campaigns(ws.conn, ws.catalog, ws.now)
        before = queries.campaign_states(ws.conn)[campaign.id]
        queries.set_campaign_state(ws.conn, campaign.id, state, ws.now)
        ws.forget_states()
    return campaign, before


def states_in(path: Path) -> dict[str, str]:
    """Campaign states in the state file at `path`, read without writing it or anything beside
    it (none when there is no state file yet): a forecast only looks. A file refcamp would refuse
    is refused here too."""
    conn = read_only(path)
    if conn is None:
        return {}
    try:
        return queries.campaign_states(conn)
    finally:
        conn.close()
