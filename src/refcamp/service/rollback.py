"""Reversing what a closed session booked: a cancel of a closed session (revocation), a reopen
(which keeps the points already active), or a return (what the returned cart item units earned,
and only that). Every reversal is a new ledger entry."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from refcamp.engine.kinds import (
    EffectKind,
    RollbackAddedLoyaltyPoints,
    RollbackCoupon,
    RollbackDeductedLoyaltyPoints,
    RollbackDiscount,
    RollbackReferral,
)
from refcamp.models import Discount, Effect, LedgerEntry, Session
from refcamp.service.points import book_like
from refcamp.service.response import Response
from refcamp.service.workspace import Workspace
from refcamp.store import queries


def _ruleset(ws: Workspace, campaign_id: str | None) -> str:
    campaign = ws.catalog.campaign(campaign_id) if campaign_id else None
    return campaign.ruleset_id if campaign else ""


Unit = tuple[int, int]  # a cart item unit: (position, sub-position)


def roll_back(
    ws: Workspace,
    session: Session,
    response: Response,
    uses: bool = True,
    keep_active: bool = False,
) -> None:
    """Reverse what a closed session booked (Talon.One's revocation): every ledger entry,
    discount and (with `uses`) code use. With `keep_active` (a reopen), points added that are
    active now stay: reopenCustomerSession rolls back "any not pending loyalty points" but
    those."""
    for entry in queries.session_entries(ws.conn, session.id):
        if keep_active and entry.type == "addition" and entry.start_date <= ws.now:
            continue
        _reverse(ws, entry, response)
    if uses:
        _give_back_uses(ws, session, response)
    for discount in queries.session_discounts(ws.conn, session.id):
        _reverse_discount(ws, discount, response)


def roll_back_units(
    ws: Workspace, session: Session, response: Response, units: Collection[Unit]
) -> None:
    """Reverse what the returned cart item units earned (returnCartItems: "This will roll back
    any effects associated with these cart items"): their per-item points and discounts. What
    the session earned as a whole (a referral's bonus, a discount off the total) stays."""
    for entry in queries.session_entries(ws.conn, session.id):
        if (entry.item_position, entry.item_sub_position) in units:
            _reverse(ws, entry, response)
    for discount in queries.session_discounts(ws.conn, session.id):
        if (discount.item_position, discount.item_sub_position) in units:
            _reverse_discount(ws, discount, response)


def _reverse(ws: Workspace, entry: LedgerEntry, response: Response, amount: int = 0) -> None:
    """Reverse a ledger entry; with `amount` less than its own, book the rest anew (with the
    original's dates: pending points stay pending), so no entry is ever reversed twice."""
    amount = amount or entry.amount
    reversal = book_like(
        ws,
        entry,
        type="subtraction" if entry.type == "addition" else "addition",
        name=f"Rollback: {entry.name}",
        start_date=ws.now,
        expiry_date=None,
        reverses=entry.transaction_uuid,
    )
    if amount < entry.amount:
        book_like(ws, entry, amount=entry.amount - amount)
    kind = RollbackAddedLoyaltyPoints if entry.type == "addition" else RollbackDeductedLoyaltyPoints
    props: dict[str, Any] = {
        "programId": entry.program_id,
        "subLedgerId": "",
        "value": amount,
        "recipientIntegrationId": entry.profile_id,
        "transactionUUID": reversal.transaction_uuid,
    }
    if entry.item_position is not None:
        props["cartItemPosition"] = entry.item_position
        props["cartItemSubPosition"] = entry.item_sub_position
    response.effects.append(
        _rollback_effect(ws, entry.campaign_id, entry.rule_index, entry.rule_name, kind, **props)
    )


def _reverse_discount(
    ws: Workspace, discount: Discount, response: Response, keep: float = 0.0
) -> None:
    queries.reduce_discount(ws.conn, discount, keep, ws.now)
    props: dict[str, Any] = {"name": discount.name, "value": round(discount.value - keep, 2)}
    if discount.item_position is not None:
        props["cartItemPosition"] = discount.item_position
        props["cartItemSubPosition"] = discount.item_sub_position
    response.effects.append(
        _rollback_effect(
            ws,
            discount.campaign_id,
            discount.rule_index,
            discount.rule_name,
            RollbackDiscount,
            **props,
        )
    )


def _give_back_uses(ws: Workspace, session: Session, response: Response) -> None:
    for use in queries.session_redemptions(ws.conn, session.id):
        queries.roll_back_redemption(ws.conn, use, ws.now)
        kind = RollbackReferral if use.kind == "referral" else RollbackCoupon
        response.effects.append(
            _rollback_effect(
                ws, use.campaign_id, use.rule_index, use.rule_name, kind, value=use.code
            )
        )


def _rollback_effect(
    ws: Workspace,
    campaign_id: str | None,
    rule_index: int | None,
    rule_name: str | None,
    kind: type[EffectKind],
    **props: Any,
) -> Effect:
    """A rollback's effect; the rollback has booked it (its kind carries only words)."""
    return Effect(
        campaign_id=campaign_id or "",
        ruleset_id=_ruleset(ws, campaign_id),
        rule_index=rule_index or 0,
        rule_name=rule_name or "",
        effect_type=kind.effect_type,
        props=props,
    )
