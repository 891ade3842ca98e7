"""Carrying out what the engine planned, inside the request's transaction. Each effect's kind
(engine.kinds, engine.effects) decides what booking it means; Booking is the BookingPort it books
through: codes, ledger entries, code uses, discounts, attributes, audiences, notes. Points and
code uses are booked only when `final` (a session closing, a profile update, an event); an open
session's effects are tentative."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from refcamp.engine.effects import KINDS  # engine.effects registers the kinds a TOML file names
from refcamp.loyalty import spendable
from refcamp.models import Coupon, Effect, LedgerEntry, Referral
from refcamp.service.points import book_entry
from refcamp.service.response import Response
from refcamp.service.workspace import Workspace
from refcamp.store import queries


@dataclass
class Booking:
    """How the effects of one evaluation are carried out (the engine's BookingPort)."""

    ws: Workspace
    session_id: str | None
    profile_id: str | None
    final: bool  # book points and code uses (a session closing, or a profile update)
    response: Response
    # What a reopen left standing of the session's earlier close, by what earned it (read once,
    # when a closing session first adds points), less what this close has counted against it.
    _kept: dict[tuple[Any, ...], int] | None = field(default=None, repr=False)

    def carry_out(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            kind = KINDS.get(effect.effect_type)
            done = kind.book(self, effect) if kind else effect
            if done is not None:  # None: the effect could not apply; the kind left a note
                self.response.effects.append(done)

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

    def add_entry(
        self, effect: Effect, type: str, start_date: datetime | None, expiry_date: datetime | None
    ) -> str:
        props = effect.props
        entry = self.book_points(
            effect,
            program_id=props["programId"],
            # the current customer or an advocate: both exist
            profile_id=props["recipientIntegrationId"],
            type=type,
            amount=props["value"],
            name=props["name"],
            start_date=start_date or self.ws.now,
            expiry_date=expiry_date,
            item_position=props.get("cartItemPosition"),
            item_sub_position=props.get("cartItemSubPosition"),
        )
        return entry.transaction_uuid

    def kept_points(self, effect: Effect) -> int:
        if self.session_id is None:
            return 0
        if self._kept is None:
            self._kept = {}
            for entry in queries.session_entries(self.ws.conn, self.session_id):
                if entry.type == "addition":
                    key = _earned_by(
                        entry.campaign_id,
                        entry.rule_index,
                        entry.profile_id,
                        entry.program_id,
                        entry.name,
                        entry.item_position,
                        entry.item_sub_position,
                    )
                    self._kept[key] = self._kept.get(key, 0) + entry.amount
        if not self._kept:
            return 0
        props = effect.props
        key = _earned_by(
            effect.campaign_id,
            effect.rule_index,
            props["recipientIntegrationId"],
            props["programId"],
            props["name"],
            props.get("cartItemPosition"),
            props.get("cartItemSubPosition"),
        )
        kept = min(self._kept.get(key, 0), props["value"])
        if kept:
            self._kept[key] -= kept
        return kept

    def spendable(self, profile_id: str, program: str) -> int:
        # Read here, inside the write transaction: a balance read earlier may have been spent.
        return spendable(queries.ledger(self.ws.conn, profile_id, program), self.ws.now)

    def create_code(self, kind: str, effect: Effect) -> str:
        ws, params = self.ws, effect.params
        table = "referrals" if kind == "referral" else "coupons"
        code = ws.codes.generate(
            params["pattern"],
            params["characters"],
            lambda c: queries.exists(ws.conn, table, "code", c),
        )
        if kind == "referral":
            self._store_referral(code, effect)
        else:
            self._store_coupon(code, effect)
        return code

    def _store_referral(self, code: str, effect: Effect) -> None:
        params = effect.params
        referral = Referral(
            code=code,
            campaign_id=effect.campaign_id,
            advocate_id=params["owner"],
            friend_id=None,
            usage_limit=params["usage_limit"],
            usage_counter=0,
            start_date=None,
            expiry_date=params["expiry_date"],
            created=self.ws.now,
        )
        number = queries.insert_referral(self.ws.conn, referral, self.session_id)
        self.response.created_referrals.append(replace(referral, talon_id=number))

    def _store_coupon(self, code: str, effect: Effect) -> None:
        params = effect.params
        coupon = Coupon(
            code=code,
            campaign_id=effect.campaign_id,
            recipient_id=params["owner"],
            usage_limit=params["usage_limit"],
            usage_counter=0,
            start_date=None,
            expiry_date=params["expiry_date"],
            created=self.ws.now,
        )
        number = queries.insert_coupon(self.ws.conn, coupon, self.session_id)
        self.response.created_coupons.append(replace(coupon, talon_id=number))

    def redeem(self, kind: str, effect: Effect) -> None:
        # The kinds redeem and add discounts only in a session (session_id is set).
        ws = self.ws
        value = effect.props["value"]
        queries.redeem(ws.conn, kind, value, effect, self.session_id, self.profile_id, ws.now)

    def count_rejection(self, kind: str, effect: Effect) -> None:
        reason = effect.props["rejectionReason"]
        queries.count_rejection(self.ws.conn, effect.campaign_id, kind, reason, self.ws.now)

    def coupon(self, code: str) -> Coupon | None:
        return queries.get_coupon(self.ws.conn, code)

    def reserve_coupon(self, code: str, profile_id: str) -> bool:
        return queries.reserve_coupon(self.ws.conn, code, profile_id, self.ws.now)

    def add_discount(self, effect: Effect) -> None:
        ws = self.ws
        queries.insert_discount(ws.conn, effect, self.session_id, self.profile_id, ws.now)

    def set_attribute(self, owner: str, owner_id: str, name: str, value: Any) -> None:
        queries.set_attribute(self.ws.conn, owner, owner_id, name, value, self.ws.now)
        response = self.response
        if owner == "profile" and response.profile is not None:
            response.profile = replace(
                response.profile, attributes={**response.profile.attributes, name: value}
            )
        if owner == "session" and response.session is not None:
            response.session = replace(
                response.session, attributes={**response.session.attributes, name: value}
            )

    def join_audience(self, audience: str, profile_id: str) -> None:
        queries.join_audience(self.ws.conn, audience, profile_id, self.ws.now)
        self.ws.forget_talon_ids()  # a new audience got its id

    def leave_audience(self, audience: str, profile_id: str) -> None:
        queries.leave_audience(self.ws.conn, audience, profile_id)

    def note(self, text: str) -> None:
        self.response.notes.append(text)


def _earned_by(*what: Any) -> tuple[Any, ...]:
    """What points were earned by: campaign, rule, recipient, program, reason, item, unit."""
    return what
