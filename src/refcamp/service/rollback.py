"""Reversing what a closed session booked: a cancel of a closed session (revocation), a reopen,
or a return (in proportion to what came back). Every reversal is a new ledger entry."""

from __future__ import annotations

from typing import Any

from refcamp.models import Effect, Session
from refcamp.service.points import book_like
from refcamp.service.response import Response
from refcamp.service.workspace import Workspace
from refcamp.store import queries


def _ruleset(ws: Workspace, campaign_id: str | None) -> str:
    campaign = ws.catalog.campaign(campaign_id) if campaign_id else None
    return campaign.ruleset_id if campaign else ""


def roll_back(
    ws: Workspace, session: Session, response: Response, share: float = 1.0, uses: bool = True
) -> None:
    """Reverse what a closed session booked (Talon.One's revocation): every ledger entry,
    discount and (with `uses`) code use. With `share` < 1 (a return), only that share of the
    points and discounts is rolled back: the entry is reversed and what stays is booked anew, so
    no entry is ever reversed twice."""
    _roll_back_points(ws, session, response, share)
    if uses:
        _give_back_uses(ws, session, response)
    _roll_back_discounts(ws, session, response, share)


def _roll_back_points(ws: Workspace, session: Session, response: Response, share: float) -> None:
    for entry in queries.session_entries(ws.conn, session.id):
        keep = entry.amount - round(entry.amount * share)
        if keep == entry.amount:
            continue
        reversal = book_like(
            ws,
            entry,
            type="subtraction" if entry.type == "addition" else "addition",
            name=f"Rollback: {entry.name}",
            start_date=ws.now,
            expiry_date=None,
            reverses=entry.transaction_uuid,
        )
        if keep:  # what stays, with the original's dates: pending points stay pending
            book_like(ws, entry, amount=keep)
        kind = (
            "rollbackAddedLoyaltyPoints"
            if entry.type == "addition"
            else "rollbackDeductedLoyaltyPoints"
        )
        response.effects.append(
            _rollback_effect(
                ws,
                entry.campaign_id,
                entry.rule_index,
                entry.rule_name,
                kind,
                programId=entry.program_id,
                subLedgerId="",
                value=entry.amount - keep,
                recipientIntegrationId=entry.profile_id,
                transactionUUID=reversal.transaction_uuid,
            )
        )


def _give_back_uses(ws: Workspace, session: Session, response: Response) -> None:
    for use in queries.session_redemptions(ws.conn, session.id):
        queries.roll_back_redemption(ws.conn, use, ws.now)
        kind = "rollbackReferral" if use.kind == "referral" else "rollbackCoupon"
        response.effects.append(
            _rollback_effect(
                ws, use.campaign_id, use.rule_index, use.rule_name, kind, value=use.code
            )
        )


def _roll_back_discounts(ws: Workspace, session: Session, response: Response, share: float) -> None:
    for discount in queries.session_discounts(ws.conn, session.id):
        keep = round(discount.value * (1 - share), 2) if share < 1 else 0.0
        queries.reduce_discount(ws.conn, discount, keep, ws.now)
        response.effects.append(
            _rollback_effect(
                ws,
                discount.campaign_id,
                discount.rule_index,
                discount.rule_name,
                "rollbackDiscount",
                name=discount.name,
                value=round(discount.value - keep, 2),
            )
        )


def _rollback_effect(
    ws: Workspace,
    campaign_id: str | None,
    rule_index: int | None,
    rule_name: str | None,
    effect_type: str,
    **props: Any,
) -> Effect:
    return Effect(
        campaign_id=campaign_id or "",
        ruleset_id=_ruleset(ws, campaign_id),
        rule_index=rule_index or 0,
        rule_name=rule_name or "",
        effect_type=effect_type,
        props=props,
    )
