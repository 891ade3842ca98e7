"""Carrying out what the engine planned, inside the request's transaction: each effectType's
handler books what the effect means (codes, ledger entries, code uses, discounts, attributes,
audiences). Points and code uses are booked only when `final` (a session closing, a profile
update, an event); an open session's effects are tentative."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from refcamp import codes
from refcamp.loyalty import spendable
from refcamp.models import Coupon, Effect, LedgerEntry, Referral
from refcamp.service.points import book_entry
from refcamp.service.response import Response
from refcamp.service.workspace import Workspace
from refcamp.store import queries


@dataclass
class Booking:
    """How the effects of one evaluation are carried out."""

    ws: Workspace
    session_id: str | None
    profile_id: str | None
    final: bool  # book points and code uses (a session closing, or a profile update)
    response: Response

    def book_points(self, effect: Effect, **fields: Any) -> LedgerEntry:
        """The ledger entry a planned effect books: its rule's, this request's session's."""
        return book_entry(
            self.ws,
            session_id=self.session_id,
            campaign_id=effect.campaign_id,
            rule_index=effect.rule_index,
            rule_name=effect.rule_name,
            **fields,
        )

    def carry_out(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            handler = HANDLERS.get(effect.effect_type)
            done = handler(self, effect) if handler else effect
            if done is not None:  # None: the effect could not apply; the handler left a note
                self.response.effects.append(done)


def _create_code(kind: str) -> Handler:
    """Draw a free code from the effect's pattern and store it: a referral code for an advocate,
    or a coupon reserved for its customer."""

    def create(booking: Booking, effect: Effect) -> Effect:
        ws, params = booking.ws, effect.params
        table = "referrals" if kind == "referral" else "coupons"
        code = codes.generate(
            params["pattern"],
            params["characters"],
            lambda c: queries.exists(ws.conn, table, "code", c),
        )
        if kind == "referral":
            referral = Referral(
                code=code,
                campaign_id=effect.campaign_id,
                advocate_id=params["owner"],
                friend_id=None,
                usage_limit=params["usage_limit"],
                usage_counter=0,
                start_date=None,
                expiry_date=params["expiry_date"],
                created=ws.now,
            )
            number = queries.insert_referral(ws.conn, referral, booking.session_id)
            booking.response.created_referrals.append(replace(referral, talon_id=number))
        else:
            coupon = Coupon(
                code=code,
                campaign_id=effect.campaign_id,
                recipient_id=params["owner"],
                usage_limit=params["usage_limit"],
                usage_counter=0,
                start_date=None,
                expiry_date=params["expiry_date"],
                created=ws.now,
            )
            number = queries.insert_coupon(ws.conn, coupon, booking.session_id)
            booking.response.created_coupons.append(replace(coupon, talon_id=number))
        return with_props(effect, value=code)

    return create


def _add_points(booking: Booking, effect: Effect) -> Effect:
    if not booking.final:
        return effect  # tentative until the session closes
    props = effect.props
    recipient = props["recipientIntegrationId"]  # the current customer or an advocate: both exist
    entry = booking.book_points(
        effect,
        program_id=props["programId"],
        profile_id=recipient,
        type="addition",
        amount=props["value"],
        name=props["name"],
        start_date=effect.params["start_date"],
        expiry_date=effect.params["expiry_date"],
    )
    return with_props(effect, transactionUUID=entry.transaction_uuid)


def with_props(effect: Effect, **props: Any) -> Effect:
    """The effect with props added (faster than dataclasses.replace, on every booking)."""
    return Effect(
        effect.campaign_id,
        effect.ruleset_id,
        effect.rule_index,
        effect.rule_name,
        effect.effect_type,
        {**effect.props, **props},
        effect.params,
    )


def _accept_code(kind: str) -> Handler:
    def accept(booking: Booking, effect: Effect) -> Effect:
        if booking.final and booking.session_id is not None:
            queries.redeem(
                booking.ws.conn,
                kind,
                effect.props["value"],
                effect,
                booking.session_id,
                booking.profile_id,
                booking.ws.now,
            )
        return effect

    return accept


def _reserve_coupon(booking: Booking, effect: Effect) -> Effect | None:
    conn, props = booking.ws.conn, effect.props
    code, profile_id = props["couponValue"], props["profileIntegrationId"]
    coupon = queries.get_coupon(conn, code)
    if coupon is None:
        booking.response.notes.append(f"reserve_coupon: no coupon {code!r}; nothing reserved")
        return None
    if coupon.recipient_id not in (None, profile_id):
        booking.response.notes.append(
            f"reserve_coupon: {code} is reserved for {coupon.recipient_id}; not for {profile_id}"
        )
        return None
    queries.reserve_coupon(conn, code, profile_id)
    return replace(effect, props={**props, "isNewReservation": coupon.recipient_id is None})


def _deduct_points(booking: Booking, effect: Effect) -> Effect | None:
    ws, props = booking.ws, effect.props
    profile_id, program = props["recipientIntegrationId"], props["programId"]
    available = spendable(queries.ledger(ws.conn, profile_id, program), ws.now)
    if props["value"] > available:
        booking.response.notes.append(
            f"deduct_loyalty_points: {profile_id} has {available} points in {program}, "
            f"not {props['value']}; nothing deducted"
        )
        return None
    if not booking.final:
        return effect
    entry = booking.book_points(
        effect,
        program_id=program,
        profile_id=profile_id,
        type="subtraction",
        amount=props["value"],
        name=props["name"],
        start_date=ws.now,
    )
    return replace(effect, props={**props, "transactionUUID": entry.transaction_uuid})


def _set_discount(booking: Booking, effect: Effect) -> Effect:
    if booking.final and booking.session_id is not None:
        queries.insert_discount(
            booking.ws.conn, effect, booking.session_id, booking.profile_id, booking.ws.now
        )
    return effect


def _update_attribute(booking: Booking, effect: Effect) -> Effect:
    params, response = effect.params, booking.response
    owner, name, value = params["owner"], params["name"], effect.props["value"]
    queries.set_attribute(booking.ws.conn, owner, params["owner_id"], name, value, booking.ws.now)
    if owner == "profile" and response.profile is not None:
        response.profile = replace(
            response.profile, attributes={**response.profile.attributes, name: value}
        )
    if owner == "session" and response.session is not None:
        response.session = replace(
            response.session, attributes={**response.session.attributes, name: value}
        )
    return effect


def _audience(join: bool) -> Handler:
    def change(booking: Booking, effect: Effect) -> Effect:
        ws, props = booking.ws, effect.props
        if join:
            queries.join_audience(
                ws.conn, props["audienceName"], props["profileIntegrationId"], ws.now
            )
            ws.forget_talon_ids()  # a new audience got its id
        else:
            queries.leave_audience(ws.conn, props["audienceName"], props["profileIntegrationId"])
        return effect

    return change


Handler = Callable[[Booking, Effect], Effect | None]


def _count_rejection(kind: str) -> Handler:
    def count(booking: Booking, effect: Effect) -> Effect:
        # Counted at checkout only: an open session may be updated many times.
        if booking.final and effect.campaign_id:
            queries.count_rejection(
                booking.ws.conn,
                effect.campaign_id,
                kind,
                effect.props["rejectionReason"],
                booking.ws.now,
            )
        return effect

    return count


HANDLERS: dict[str, Handler] = {
    "referralCreated": _create_code("referral"),
    "addLoyaltyPoints": _add_points,
    "deductLoyaltyPoints": _deduct_points,
    "acceptReferral": _accept_code("referral"),
    "acceptCoupon": _accept_code("coupon"),
    "rejectReferral": _count_rejection("referral"),
    "rejectCoupon": _count_rejection("coupon"),
    "couponCreated": _create_code("coupon"),
    "reserveCoupon": _reserve_coupon,
    "setDiscount": _set_discount,
    "updateAttribute": _update_attribute,
    "addToAudience": _audience(join=True),
    "removeFromAudience": _audience(join=False),
}
