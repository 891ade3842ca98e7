"""Use cases: one function per request. Each opens one transaction (BEGIN IMMEDIATE), loads the
facts, calls the pure engine, carries out the effects it planned and returns a Response.

A dry run is the same code path ending in ROLLBACK, so it shows exactly what a real run would do.
Points and code uses are booked only when a session closes (or by a profile update); an open
session's effects are tentative, as in Talon.One.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from refcamp import clock, codes
from refcamp.engine import Evaluation, Facts, evaluate
from refcamp.engine.core import stopped
from refcamp.errors import ConflictError, InputError, NotFoundError
from refcamp.models import (
    LIMIT_ACTIONS,
    Campaign,
    Catalog,
    Coupon,
    Effect,
    LedgerEntry,
    Profile,
    Referral,
    Session,
    TalonIds,
)
from refcamp.payloads import (
    UNSET,
    ProfileInput,
    ReferralInput,
    ReturnInput,
    SessionInput,
    check_id,
)
from refcamp.store import queries
from refcamp.store.db import connect, snapshot, transaction
from refcamp.tables import LARGEST


@dataclass
class Workspace:
    """Where a command's state lives; the database and the campaigns are opened on first use."""

    db_option: Path | None = None
    campaigns_option: Path | None = None
    now_option: str | None = None

    @cached_property
    def new_customers(self) -> list[str]:
        """Profiles the current request created without a registration (_ensure_profile)."""
        return []

    @cached_property
    def now(self) -> datetime:
        return clock.now(self.now_option)

    @cached_property
    def db_path(self) -> Path:
        from refcamp.paths import db_path

        return db_path(self.db_option)

    @cached_property
    def campaigns_dir(self) -> Path:
        from refcamp.paths import campaigns_dir

        return campaigns_dir(self.campaigns_option)

    @cached_property
    def catalog(self) -> Catalog:
        from refcamp.catalog_cache import load
        from refcamp.errors import CampaignFileError

        try:
            return load(self.campaigns_dir)
        except CampaignFileError as error:
            if not self.__dict__.get("_reading"):
                raise  # a request never runs on a campaign directory that does not validate
            # A command that only reads the state file still works: one broken file must not
            # hide balances and codes. It says so, once, and shows no campaign.
            from refcamp.render import note

            count = len(error.problems)
            note(
                f"warning: campaign directory {self.campaigns_dir} does not validate "
                f"({count} problem{'s' if count != 1 else ''}; refcamp campaign validate "
                f"lists them): showing the state file without campaigns"
            )
            self.__dict__["_broken_catalog"] = True
            return Catalog(str(self.campaigns_dir), (), {})

    @cached_property
    def conn(self) -> sqlite3.Connection:
        from refcamp.paths import db_path_given

        return connect(self.db_path, make_folder=not db_path_given(self.db_option))

    @property
    def stored(self) -> sqlite3.Connection:
        """The connection, for a command that only reads: a state file that is not there is a
        mistyped path (or nothing recorded yet), never a reason to create one."""
        if "conn" not in self.__dict__:
            if not os.path.lexists(self.db_path):
                raise NotFoundError(
                    f"no state file at {self.db_path}: nothing is recorded there yet "
                    "(a mistyped --db or REFCAMP_DB?)"
                )
            # The command's first touch of the state file is a read, outside any request: it
            # evaluates no rule, so a campaign directory that does not validate only warns.
            self.__dict__["_reading"] = True
            _ = self.catalog  # read now, so a broken one is said whatever the command shows
        return self.conn

    def close(self) -> None:
        if "conn" in self.__dict__:
            self.conn.close()
            del self.__dict__["conn"]

    def at(self, moment: datetime | None) -> None:
        """Set the clock for the next request (replay lines carry their own "now")."""
        if moment is None:
            fixed = self.__dict__.get("_fixed_now", False)
            if fixed is False:  # --now or REFCAMP_NOW, read once
                text = self.now_option or os.environ.get("REFCAMP_NOW")
                fixed = self.__dict__["_fixed_now"] = clock.now(text) if text else None
            moment = fixed if fixed is not None else datetime.now(UTC)
        self.__dict__["now"] = moment
        # A new request: forget who the last one created, or a replay or server would keep a
        # list of every customer it ever made.
        self.__dict__.pop("new_customers", None)

    def uses(self, feature: str) -> bool:
        """Whether any campaign has audience conditions ("audience") or deductions ("deduct"),
        so requests skip loading what no rule looks at."""
        found = self.__dict__.get("_uses")
        if found is None:
            from refcamp.engine.conditions import AudienceCondition
            from refcamp.engine.effects import DeductLoyaltyPoints

            rules = [r for c in self.catalog.campaigns for r in c.rules]
            found = self.__dict__["_uses"] = {
                "audience": any(
                    isinstance(c, AudienceCondition)
                    for r in rules
                    for top in r.when
                    for c in top.walk()
                ),
                "deduct": any(isinstance(e, DeductLoyaltyPoints) for r in rules for e in r.then),
            }
        return found[feature]

    def talon_ids(self) -> TalonIds:
        """The integer ids Talon.One's models use, given once per campaign, ruleset, program and
        custom effect of the catalog (and per audience when it is first joined)."""
        self._changed_elsewhere()
        ids = self.__dict__.get("_talon_ids")
        if ids is None:
            from refcamp.engine.effects import CustomEffect

            catalog = self.catalog
            wanted: list[tuple[str, str, int | None]] = []
            for c in catalog.campaigns:
                wanted += [("campaign", c.id, c.talon_id), ("ruleset", c.ruleset_id, None)]
                wanted += [
                    ("effect", e.effect_name, None)
                    for r in c.rules
                    for e in r.then
                    if isinstance(e, CustomEffect)
                ]
            wanted += [("program", p.id, p.talon_id) for p in catalog.programs.values()]
            numbers = queries.talon_ids(self.conn)
            stale = [
                (kind, key)
                for kind, key, fixed in wanted
                if numbers.get((kind, key)) is None or fixed not in (None, numbers[(kind, key)])
            ]
            if stale:  # given under the write lock, which a read-only command takes only then
                with transaction(self.conn):
                    numbers = queries.talon_ids(self.conn)
                    _refuse_taken(wanted, numbers)
                    queries.give_talon_ids(self.conn, wanted)
                    numbers = queries.talon_ids(self.conn)
            ids = self.__dict__["_talon_ids"] = TalonIds(numbers)
        return ids

    def forget_talon_ids(self) -> None:
        self.__dict__.pop("_talon_ids", None)

    def reread_after_rollback(self) -> None:
        """What this request read (ids, states, campaigns seen) may hold what its dry run rolls
        back: it stays for shaping this response; a long-running door reads it again next time."""
        self.__dict__.pop("_data_version", None)
        self.__dict__.pop("_seen", None)

    def new_request(self, moment: datetime | None) -> None:
        """The next request of a long-running door (the HTTP server): what this workspace read
        (campaign states, ids) is read again if another process has committed since."""
        self.at(moment)
        self.__dict__["_recheck"] = True

    def _changed_elsewhere(self) -> None:
        """Once per request, at the first read that needs it (inside the request's transaction):
        drop what was read if another connection committed since (SQLite's data_version)."""
        if not self.__dict__.pop("_recheck", False):
            return
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.__dict__.get("_data_version"):
            self.__dict__["_data_version"] = version
            for cached in ("_states", "_talon_ids"):
                self.__dict__.pop(cached, None)

    def forget_campaigns(self) -> None:
        """The campaign files changed: read them again at the next request."""
        for cached in ("catalog", "_uses", "_states", "_talon_ids", "_seen"):
            self.__dict__.pop(cached, None)

    def campaign_states(self) -> dict[str, str]:
        """Every campaign's current state, read inside the request's transaction: once per
        command, and again in a server only when another process has committed since."""
        self._changed_elsewhere()
        states = self.__dict__.get("_states")
        if states is None:
            if not self.__dict__.get("_seen"):  # once per catalog (a failed group forgets it)
                queries.see_campaigns(self.conn, self.catalog, self.now)
                self.__dict__["_seen"] = True
            states = self.__dict__["_states"] = queries.campaign_states(self.conn)
        return states


def _refuse_taken(wanted: list[tuple[str, str, int | None]], numbers: dict) -> None:
    """A talon_id fixed in the TOML that the state file gave another campaign or program would
    silently move a number clients know: refused."""
    holders = {(kind, number): key for (kind, key), number in numbers.items()}
    for kind, key, fixed in wanted:
        holder = holders.get((kind, fixed))
        if fixed is not None and holder not in (None, key):
            raise InputError(
                f"{kind} {key!r}: talon_id {fixed} is already the id this state file gave "
                f"{kind} {holder!r}; choose another talon_id (clients may know {holder!r} by "
                f"{fixed})"
            )


class Views(NamedTuple):
    stats: tuple[int, float, str | None] = (0, 0, None)  # closed sessions, sales, last activity
    audiences: list[str] = []  # noqa: RUF012 (a NamedTuple default, never mutated)
    first_session: bool = True
    returned_items: dict[int, int] = {}  # noqa: RUF012 (cart item position -> quantity back)
    profile_number: int = 0  # Talon.One's integer ids of the profile and the session
    session_number: int = 0


@dataclass
class Response:
    """What one request did, before it is shaped for people or for scripts."""

    effects: list[Effect] = field(default_factory=list)
    created_referrals: list[Referral] = field(default_factory=list)
    created_coupons: list[Coupon] = field(default_factory=list)
    profile: Profile | None = None
    session: Session | None = None
    evaluation: Evaluation | None = None
    events: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    generated: dict[str, str] = field(default_factory=dict)  # kind -> id made up for the request
    response_content: tuple[str, ...] = ()
    dry_run: bool = False
    loyalty: dict[str, Any] | None = None  # program id -> Balance, when asked for

    @cached_property
    def _views(self) -> Views:
        return self.view_loader() if self.view_loader else Views()

    @property
    def profile_stats(self) -> tuple[int, float, str | None]:
        return self._views.stats

    @property
    def audiences(self) -> list[str]:
        return self._views.audiences

    @property
    def first_session(self) -> bool:
        return self._views.first_session

    @property
    def returned_items(self) -> dict[int, int]:
        return self._views.returned_items

    @property
    def profile_number(self) -> int:
        return self._views.profile_number

    @property
    def session_number(self) -> int:
        return self._views.session_number

    # What the response shows of the profile and session beyond the models, read when the
    # response is shaped: a replay that writes no responses never pays for them.
    view_loader: Callable[[], Views] | None = field(default=None, repr=False)
    event: dict[str, Any] | None = None  # the custom event a request tracked
    # The session's known coupons with their uses by this customer, when asked for.
    coupons: list[tuple[Coupon, int]] = field(default_factory=list)
    referral: tuple[Referral, list[str]] | None = None  # the session's code and who it referred
    new_return: dict[str, Any] | None = None  # the return a request made (ModelReturn's facts)
    previous_returns: list[dict[str, Any]] = field(default_factory=list)  # when asked for


# --- campaigns -----------------------------------------------------------------------------------


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


def find_campaign(catalog: Catalog, campaign_id: str, ids: TalonIds | None = None) -> Campaign:
    """A campaign by its readable id or, given `ids`, by its Talon.One integer id."""
    campaign = catalog.campaign(campaign_id)
    if campaign is None and ids is not None and campaign_id.isascii() and campaign_id.isdigit():
        campaign = catalog.campaign(ids.key("campaign", int(campaign_id)) or "")
    if campaign is None:
        from refcamp.tables import unknown_hint

        known = [c.id for c in catalog.campaigns]
        raise NotFoundError(
            f"no campaign {campaign_id!r} in {catalog.directory}{unknown_hint(campaign_id, known)}"
        )
    return campaign


def _require_feature(campaign: Campaign, feature: str, what: str) -> None:
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
        ws.__dict__.pop("_states", None)
    return campaign, before


# --- carrying out effects ------------------------------------------------------------------------


@dataclass
class Booking:
    """How the effects of one evaluation are carried out."""

    ws: Workspace
    session_id: str | None
    profile_id: str | None
    final: bool  # book points and code uses (a session closing, or a profile update)
    response: Response

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
    ws, props = booking.ws, effect.props
    recipient = props["recipientIntegrationId"]  # the current customer or an advocate: both exist
    entry = LedgerEntry(
        transaction_uuid=codes.transaction_uuid(),
        program_id=props["programId"],
        profile_id=recipient,
        type="addition",
        amount=props["value"],
        name=props["name"],
        created=ws.now,
        start_date=effect.params["start_date"],
        expiry_date=effect.params["expiry_date"],
        session_id=booking.session_id,
        campaign_id=effect.campaign_id,
        rule_index=effect.rule_index,
        rule_name=effect.rule_name,
    )
    queries.insert_entry(ws.conn, entry)
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
    from refcamp.loyalty import spendable

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
    entry = LedgerEntry(
        transaction_uuid=codes.transaction_uuid(),
        program_id=program,
        profile_id=profile_id,
        type="subtraction",
        amount=props["value"],
        name=props["name"],
        created=ws.now,
        start_date=ws.now,
        session_id=booking.session_id,
        campaign_id=effect.campaign_id,
        rule_index=effect.rule_index,
        rule_name=effect.rule_name,
    )
    queries.insert_entry(ws.conn, entry)
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


def _ensure_profile(ws: Workspace, profile_id: str) -> Profile:
    """The profile, created (no registration event) when it does not exist yet: a request that
    gives a customer something makes them, as in Talon.One. Who was made is kept in
    ws.new_customers, so a command can say so (a mistyped id makes a customer)."""
    profile = queries.get_profile(ws.conn, profile_id)
    if profile is None:
        profile = Profile(profile_id, {}, ws.now, ws.now)
        queries.save_profile(ws.conn, profile)
        ws.new_customers.append(profile_id)
    return profile


def _facts(
    ws: Workspace,
    events: tuple[str, ...],
    profile: Profile | None,
    session: Session | None = None,
    event_attributes: Mapping[str, Any] | None = None,
) -> Facts:
    """Everything the engine may look at for one request, read inside its transaction."""
    conn, catalog = ws.conn, ws.catalog
    code = session.referral_code if session else None
    referral = queries.get_referral(conn, code) if code else None
    coupon_codes = session.coupon_codes if session else ()
    profile_id = profile.id if profile else None
    balances: dict[str, int] = {}
    if profile_id is not None and ws.uses("deduct"):
        from refcamp.loyalty import balances as derive

        derived = derive(queries.ledger(conn, profile_id), ws.now)
        balances = {program: b.current for program, b in derived.items()}
    # Only the limit counters this request can spend: a campaign that does not run spends
    # nothing, and a code is redeemed only when the session brings one.
    states = ws.campaign_states()
    not_running = stopped(catalog, states, ws.now)
    running = [c for c in catalog.campaigns if c.id not in not_running]
    actions = {
        action
        for action in LIMIT_ACTIONS
        if not (action == "redeemReferral" and code is None)
        and not (action == "redeemCoupon" and not coupon_codes)
    }
    return Facts(
        now=ws.now,
        events=events,
        profile=profile,
        session=session,
        referral=referral,
        campaign_states=states,
        usage=queries.usage(
            conn,
            running,
            actions,
            profile_id,
            referral.advocate_id if referral else None,
            [code, *coupon_codes],
        ),
        audiences=queries.audiences(conn, profile_id)
        if profile_id and ws.uses("audience")
        else frozenset(),
        event_attributes=event_attributes,
        coupons={c: queries.get_coupon(conn, c) for c in coupon_codes},
        balances=balances,
    )


def _run(ws: Workspace, facts: Facts, booking: Booking) -> None:
    evaluation = evaluate(ws.catalog, facts)
    booking.response.evaluation = evaluation
    booking.carry_out(evaluation.effects)


# --- profiles ------------------------------------------------------------------------------------


def update_profile(
    ws: Workspace,
    profile_id: str,
    request: ProfileInput,
    run_rules: bool = True,
    dry_run: bool = False,
) -> Response:
    """PUT /v2/customer_profiles/{id}: a new id fires talon_profile_created, a known one
    talon_profile_updated (only when the rule engine runs)."""
    check_id(profile_id, "profile id")
    catalog = ws.catalog if run_rules else None
    response = Response(
        notes=list(request.notes), response_content=request.response_content, dry_run=dry_run
    )
    with transaction(ws.conn, commit=not dry_run):
        existing = queries.get_profile(ws.conn, profile_id)
        profile = Profile(
            profile_id,
            {**(existing.attributes if existing else {}), **request.attributes},
            existing.created if existing else ws.now,
            ws.now,
        )
        queries.save_profile(ws.conn, profile)
        for audience in _audience_names(ws, request.audiences_add, "audiencesChanges.adds"):
            queries.join_audience(ws.conn, audience, profile_id, ws.now)
        if request.audiences_add:
            ws.forget_talon_ids()  # a new audience got its id
        for audience in _audience_names(ws, request.audiences_remove, "audiencesChanges.deletes"):
            queries.leave_audience(ws.conn, audience, profile_id)
        response.profile = profile
        if catalog is not None:
            event = "talon_profile_updated" if existing else "talon_profile_created"
            response.events = (event,)
            facts = _facts(ws, response.events, profile)
            _run(ws, facts, Booking(ws, None, profile_id, True, response))
        _attach_views(ws, response)
    return response


def why_no_code(catalog: Catalog, evaluation: Evaluation | None) -> str:
    """Why a request created no code, in one line: what -q (which prints only the codes it
    created) says on stderr instead of going silent."""
    from refcamp.engine.effects import CreateCode

    if evaluation is None:
        return "no code was created: the rules did not run (--no-rules)"
    reasons = []
    for campaign in catalog.campaigns:
        makers = [r for r in campaign.rules if any(isinstance(e, CreateCode) for e in r.then)]
        if not makers:
            continue
        if campaign.id in evaluation.not_running:
            reasons.append(evaluation.not_running[campaign.id])
            continue
        for rule in makers:
            result = next(
                (
                    r
                    for r in evaluation.rules
                    if r.campaign_id == campaign.id and r.rule_index == rule.index
                ),
                None,
            )
            failed = result.failed_condition if result is not None else None
            if failed is not None:
                reasons.append(
                    f"rule '{rule.name}' ({campaign.id}) did not fire: {failed.words} "
                    f"— saw {failed.check.seen}"
                )
        for blocked in evaluation.blocked:
            if blocked.campaign_id == campaign.id and isinstance(
                campaign.rules[blocked.rule_index].then[blocked.effect_index], CreateCode
            ):
                reasons.append(
                    f"rule '{blocked.rule_name}' ({campaign.id}): {blocked.reason} "
                    f"— {blocked.details}"
                )
    if not reasons:
        return "no code was created: no campaign creates codes on this request"
    return "no code was created: " + "; ".join(reasons)


def _audience_names(ws: Workspace, given: tuple[str | int, ...], where: str) -> list[str]:
    """Audiences given by name or by Talon.One's integer id, as names."""
    names = []
    for index, audience in enumerate(given):
        if isinstance(audience, str):
            check_id(audience, f"{where}[{index}]")
        else:
            name = ws.talon_ids().key("audience", audience)
            if name is None:
                raise NotFoundError(f"{where}[{index}]: no audience with id {audience}")
            audience = name
        names.append(audience)
    return names


def update_profiles(
    ws: Workspace, items: list[tuple[str, ProfileInput]]
) -> list[tuple[str, Response]]:
    """PUT /v2/customer_profiles: many profiles in one request (and one transaction); the rules
    do not run, as in Talon.One."""
    with transaction(ws.conn):
        return [(pid, update_profile(ws, pid, body, run_rules=False)) for pid, body in items]


def delete_customer_data(ws: Workspace, profile_id: str) -> None:
    """DELETE /v1/customer_data/{id}: erase a customer's personal data — the attributes of the
    profile and of everything that references it (sessions, events, codes). What the customer
    earned and spent stays: the ledger is append-only, and counters must still add up."""
    check_id(profile_id, "integrationId")
    with transaction(ws.conn):
        get_profile(ws, profile_id)
        queries.erase_attributes(ws.conn, profile_id)


def create_audience(ws: Workspace, name: str) -> tuple[int, str]:
    """POST /v2/audiences: an audience with its integer id (the same name gives the same id)."""
    check_id(name, "name")
    with transaction(ws.conn):
        queries.give_talon_id(ws.conn, "audience", name)
        number = queries.talon_ids(ws.conn)[("audience", name)]
    ws.forget_talon_ids()
    return number, clock.iso(ws.now) or ""


def change_audiences(ws: Workspace, changes: list[tuple[str, str, int]]) -> None:
    """POST /v2/customer_audiences: add customers to audiences and remove them, by audience id;
    an unknown customer is created, as a profile update would."""
    with transaction(ws.conn):
        for index, (action, profile_id, number) in enumerate(changes):
            name = ws.talon_ids().key("audience", number)
            if name is None:
                raise NotFoundError(f"data[{index}].audienceId: no audience with id {number}")
            _ensure_profile(ws, profile_id)
            if action == "add":
                queries.join_audience(ws.conn, name, profile_id, ws.now)
            else:
                queries.leave_audience(ws.conn, name, profile_id)


def get_profile(ws: Workspace, profile_id: str) -> Profile:
    profile = queries.get_profile(ws.stored, profile_id)
    if profile is None:
        raise NotFoundError(f"no customer profile {profile_id!r}")
    return profile


class Inventory(NamedTuple):
    """Everything refcamp holds of one customer, read in one snapshot (getCustomerInventory)."""

    profile: Profile
    views: Views
    balances: dict[str, Any]  # program id -> Balance
    referrals: list[tuple[Referral, list[str]]]  # as advocate, with the customers it brought
    coupons: list[tuple[Coupon, int]]  # reserved for or redeemed by them, with their uses
    now: datetime
    states: dict[str, str]  # campaign states


def _customer_views(conn: sqlite3.Connection, profile_id: str) -> Views:
    """What a customer profile shows beyond the model: statistics and audiences."""
    return Views(
        queries.profile_stats(conn, profile_id), sorted(queries.audiences(conn, profile_id))
    )


def inventory(ws: Workspace, profile_id: str) -> Inventory:
    conn = ws.stored
    with snapshot(conn):
        profile = get_profile(ws, profile_id)
        views = _customer_views(conn, profile_id)
        codes = [
            (r, queries.referred(conn, r.code))
            for r in queries.list_referrals(conn, advocate=profile_id)
        ]
        coupons = [
            (c, queries.profile_redemptions(conn, "coupon", c.code, profile_id))
            for c in queries.customer_coupons(conn, profile_id)
        ]
        return Inventory(
            profile,
            views,
            balances(ws, profile_id),
            codes,
            coupons,
            ws.now,
            queries.campaign_states(conn),
        )


# --- sessions ------------------------------------------------------------------------------------


def _transition(before: str | None, after: str) -> tuple[str, ...]:
    """The events a session state change fires (see the reference's transition table)."""
    if before is None:
        return {
            "open": ("talon_session_created",),
            "closed": ("talon_session_created", "talon_session_closed"),
            "cancelled": ("talon_session_created", "talon_session_cancelled"),
        }[after]
    if before == "open":
        return {
            "open": ("talon_session_updated",),
            "closed": ("talon_session_closed",),
            "cancelled": ("talon_session_cancelled",),
        }[after]
    if before == "closed" and after == "cancelled":
        return ("talon_session_revoked",)
    return ()


def update_session(
    ws: Workspace, session_id: str | None, request: SessionInput, dry_run: bool = False
) -> Response:
    """PUT /v2/customer_sessions/{id}."""
    _ = ws.catalog  # campaigns are validated before the state file is touched
    response = Response(
        notes=list(request.notes), response_content=request.response_content, dry_run=dry_run
    )
    with transaction(ws.conn, commit=not dry_run):
        conn = ws.conn
        if session_id is None:
            session_id = codes.generate(
                codes.ID_PATTERN,
                codes.ID_CHARACTERS,
                lambda s: queries.exists(conn, "sessions", "id", s),
            )
            response.generated["session"] = session_id
        check_id(session_id, "session id")
        stored = queries.get_session(conn, session_id)
        before = stored.state if stored else None
        after = (before or "open") if request.state is UNSET else request.state

        if before == "cancelled":
            if after == "cancelled":
                response.session = stored
                response.notes.append(f"session {session_id} is already cancelled: nothing to do")
                _attach_views(ws, response)
                return response
            verb = "closed" if after == "closed" else "reopened"
            raise ConflictError(f"session {session_id} was cancelled; it cannot be {verb}")
        if before == "closed" and after == "closed":
            response.session = stored
            response.notes.append(
                f"session {session_id} is already closed: nothing was awarded again"
            )
            _attach_views(ws, response)
            return response
        if before == "closed" and after == "open":
            raise ConflictError(
                f"session {session_id} is closed; reopen it (refcamp session reopen, or PUT "
                f"/v2/customer_sessions/{session_id}/reopen) or cancel it to roll back what it "
                f"booked"
            )

        profile_id = request.profile_id
        if profile_id is UNSET:
            if stored is not None:
                profile_id = stored.profile_id
            else:
                profile_id = codes.generate(
                    codes.ID_PATTERN,
                    codes.ID_CHARACTERS,
                    lambda p: queries.exists(conn, "profiles", "id", p),
                )
                response.generated["profile"] = profile_id
        profile = _ensure_profile(ws, profile_id) if profile_id is not None else None

        def keep(value: Any, old: Any, default: Any) -> Any:
            if value is not UNSET:
                return value
            return old if stored is not None else default

        session = Session(
            id=session_id,
            profile_id=profile_id,
            state=after,
            cart_items=keep(request.cart_items, stored and stored.cart_items, ()),
            coupon_codes=keep(request.coupon_codes, stored and stored.coupon_codes, ()),
            referral_code=keep(request.referral_code, stored and stored.referral_code, None),
            attributes={**(stored.attributes if stored else {}), **request.attributes},
            additional_costs=keep(request.additional_costs, stored and stored.additional_costs, {}),
            identifiers=keep(request.identifiers, stored and stored.identifiers, ()),
            created=stored.created if stored else ws.now,
            updated=ws.now,
        )
        if not math.isfinite(session.total):
            raise InputError(f"session {session_id}: the cart total is too large to compute")
        queries.save_session(conn, session)
        session_for_rules = session
        if after == "cancelled":
            if before == "closed":  # revocation: roll back what the session booked
                _roll_back(ws, session, response)
            # A cancelled session redeems nothing, so its codes get no verdict.
            session_for_rules = replace(session, referral_code=None, coupon_codes=())
        response.session = session
        response.profile = profile
        response.events = _transition(before, after)
        facts = _facts(ws, response.events, profile, session_for_rules)
        final = after == "closed" and before != "closed"
        _run(ws, facts, Booking(ws, session_id, profile_id, final, response))
        queries.save_session_effects(conn, session_id, response.effects)
        _attach_views(ws, response)
    return response


def _ruleset(ws: Workspace, campaign_id: str | None) -> str:
    campaign = ws.catalog.campaign(campaign_id) if campaign_id else None
    return campaign.ruleset_id if campaign else ""


def _roll_back(
    ws: Workspace, session: Session, response: Response, share: float = 1.0, uses: bool = True
) -> None:
    """Reverse what a closed session booked (Talon.One's revocation): every ledger entry,
    discount and (with `uses`) code use. With `share` < 1 (a return), only that share of the
    points and discounts is rolled back: the entry is reversed and what stays is booked anew, so
    no entry is ever reversed twice."""
    conn = ws.conn
    for entry in queries.session_entries(conn, session.id):
        keep = entry.amount - round(entry.amount * share)
        if keep == entry.amount:
            continue
        reversal = _entry(
            ws,
            entry,
            type="subtraction" if entry.type == "addition" else "addition",
            name=f"Rollback: {entry.name}",
            start_date=ws.now,
            expiry_date=None,
            reverses=entry.transaction_uuid,
        )
        if keep:  # what stays, with the original's dates: pending points stay pending
            _entry(ws, entry, amount=keep)
        response.effects.append(
            _rollback_effect(
                ws,
                entry.campaign_id,
                entry.rule_index,
                entry.rule_name,
                "rollbackAddedLoyaltyPoints"
                if entry.type == "addition"
                else "rollbackDeductedLoyaltyPoints",
                programId=entry.program_id,
                subLedgerId="",
                value=entry.amount - keep,
                recipientIntegrationId=entry.profile_id,
                transactionUUID=reversal.transaction_uuid,
            )
        )
    if uses:
        for row in queries.session_redemptions(conn, session.id):
            queries.roll_back_redemption(conn, row, ws.now)
            kind = "rollbackReferral" if row["kind"] == "referral" else "rollbackCoupon"
            response.effects.append(
                _rollback_effect(
                    ws,
                    row["campaign_id"],
                    row["rule_index"],
                    row["rule_name"],
                    kind,
                    value=row["code"],
                )
            )
    for row in queries.session_discounts(conn, session.id):
        keep = round(row["value"] * (1 - share), 2) if share < 1 else 0.0
        queries.reduce_discount(conn, row, keep, ws.now)
        response.effects.append(
            _rollback_effect(
                ws,
                row["campaign_id"],
                row["rule_index"],
                row["rule_name"],
                "rollbackDiscount",
                name=row["name"],
                value=round(row["value"] - keep, 2),
            )
        )


def _entry(ws: Workspace, like: LedgerEntry, **changes: Any) -> LedgerEntry:
    """A new ledger entry like `like` (same program, customer, session, rule), made now."""
    changes = {"reverses": None, **changes}
    entry = replace(like, transaction_uuid=codes.transaction_uuid(), created=ws.now, **changes)
    return replace(entry, talon_id=queries.insert_entry(ws.conn, entry))


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


def return_items(
    ws: Workspace, session_id: str, request: ReturnInput, dry_run: bool = False
) -> Response:
    """POST /v2/customer_sessions/{id}/returns: items of a closed session come back. The points
    the session earned and its discounts are rolled back in the share of the cart's value that
    was returned; the session is then partially returned."""
    check_id(session_id, "customerSessionId")
    response = Response(response_content=request.response_content, dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        conn = ws.conn
        session = get_session(ws, session_id)
        if session.state != "closed":
            raise ConflictError(
                f"session {session_id} is {session.state}; only a closed session's items can be "
                f"returned"
            )
        already = queries.returned(conn, session_id)
        items = {i.position: i for i in session.cart_items}
        value_left = sum(i.price * (i.quantity - already.get(p, 0)) for p, i in items.items())
        taken: dict[int, int] = {}
        for index, (position, quantity) in enumerate(request.items):
            where = f"return.returnedCartItems[{index}]"
            item = items.get(position)
            if item is None:
                raise InputError(
                    f"{where}.position: session {session_id} has no cart item at position "
                    f"{position} (positions: {', '.join(map(str, items)) or 'none'})"
                )
            left = item.quantity - already.get(position, 0) - taken.get(position, 0)
            wanted = left if quantity is None else quantity
            if left < 1 or not 1 <= wanted <= left:
                raise InputError(
                    f"{where}.quantity: {left} of {item.sku!r} left to return, asked {wanted}"
                )
            taken[position] = taken.get(position, 0) + wanted
        everything = all(
            already.get(p, 0) + taken.get(p, 0) == i.quantity for p, i in items.items()
        )
        value_returned = sum(items[p].price * q for p, q in taken.items())
        share = 1.0 if everything or value_left <= 0 else value_returned / value_left
        profile_id = session.profile_id
        event_id = queries.insert_event(
            conn, "talon_session_returned", profile_id, session_id, {}, ws.now
        )
        queries.insert_returns(conn, event_id, session_id, taken.items(), ws.now)
        # Code uses stay, even when everything came back: the friend was referred, the coupon
        # used (a reopen or a cancel gives them back).
        _roll_back(ws, session, response, share, uses=False)
        queries.save_session_effects(conn, session_id, response.effects)
        response.session = session
        response.profile = queries.get_profile(conn, profile_id) if profile_id else None
        response.events = ("talon_session_returned",)
        response.new_return = {
            "id": event_id,
            "created": clock.iso(ws.now),
            "returnedCartItems": [{"position": p, "quantity": q} for p, q in taken.items()],
            "eventId": event_id,
        }
        _attach_views(ws, response)
    return response


def track_event(
    ws: Workspace,
    event_type: str,
    profile_id: str | None,
    session_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    response_content: tuple[str, ...] = (),
) -> Response:
    """POST /v2/events: a custom event for a customer (and optionally one of their sessions).

    Rules with `{ event = "TYPE" }` react to it; points it earns are booked at once."""
    if (
        not event_type
        or len(event_type) > 255
        or not event_type.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        raise InputError(
            f"event type {event_type!r}: use letters, digits, '_', '-' and '.' (at most 255)"
        )
    if event_type.startswith("talon_"):
        raise InputError(
            f"event type {event_type!r}: talon_ events are built in; pick another name"
        )
    if profile_id is not None:  # None: an anonymous event, as Talon.One allows
        check_id(profile_id, "profileId")
    attributes = dict(attributes or {})
    _ = ws.catalog  # campaigns are validated before the state file is touched
    response = Response(response_content=response_content, dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        profile = _ensure_profile(ws, profile_id) if profile_id is not None else None
        session = None
        if session_id is not None:
            session = get_session(ws, session_id)
            if profile_id is not None and session.profile_id not in (None, profile_id):
                raise ConflictError(
                    f"session {session_id} belongs to {session.profile_id}, not {profile_id}"
                )
        event_id = queries.insert_event(
            ws.conn, event_type, profile_id, session_id, attributes, ws.now
        )
        response.profile = profile
        response.events = (event_type,)
        response.event = {
            "id": event_id,
            "type": event_type,
            "profileId": profile_id,
            "sessionId": session_id,
            "attributes": attributes,
            "created": clock.iso(ws.now),
        }
        # An event is not a checkout: the session's codes are not redeemed by it.
        facts_session = replace(session, referral_code=None, coupon_codes=()) if session else None
        facts = _facts(ws, response.events, profile, facts_session, attributes)
        # Points an event earns are the customer's, not the session's: cancelling the session
        # does not take them back.
        _run(ws, facts, Booking(ws, None, profile_id, True, response))
        _attach_views(ws, response)
    return response


def cancel_session(ws: Workspace, session_id: str, dry_run: bool = False) -> Response:
    """Cancel a session: an open one books nothing; a closed one is revoked, rolling back the
    points and code uses it booked. Cancelling twice changes nothing."""
    get_session(ws, session_id)
    from refcamp.payloads import SessionInput

    return update_session(ws, session_id, SessionInput(state="cancelled"), dry_run=dry_run)


def session_view(ws: Workspace, session_id: str) -> tuple[Session, Views, list[Effect]]:
    """A session, what the response shows of it beyond the model (whether it is its customer's
    first, what was returned), and its latest evaluation's effects."""
    conn = ws.stored
    with snapshot(conn):
        session = get_session(ws, session_id)
        views = Views(
            first_session=queries.first_session(conn, session),
            returned_items=queries.returned(conn, session_id),
        )
        return session, views, queries.session_effects(conn, session_id)


def get_session(ws: Workspace, session_id: str) -> Session:
    session = queries.get_session(ws.stored, session_id)
    if session is None:
        raise NotFoundError(f"no customer session {session_id!r}")
    return session


# --- referrals and loyalty ----------------------------------------------------------------------


def referrals(
    ws: Workspace,
    advocate: str | None = None,
    campaign: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Referral], int]:
    """A page of referral codes and how many there are in all."""
    page = queries.list_referrals(ws.stored, advocate, campaign, limit, offset)
    if limit is None and (page or not offset):  # the whole list from offset: no count needed
        return page, offset + len(page)
    return page, queries.count_referrals(ws.stored, advocate, campaign)


def create_referral(
    ws: Workspace,
    campaign_id: str,
    advocate: str,
    code: str | None = None,
    friend: str | None = None,
    usage_limit: int | None = None,
    starts: datetime | None = None,
    expires: datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Referral:
    """Create (or import, with `code`) a referral code for an advocate, like Talon.One's
    "create referral code for an advocate"; the advocate's profile is created if needed."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    _require_feature(campaign, "referrals", "referral codes")
    check_id(advocate, "advocate")
    if friend is not None:
        check_id(friend, "friend")
    if code is not None:
        check_id(code, "code")
    if usage_limit is not None and not 0 <= usage_limit <= LARGEST:
        raise InputError(f"usage limit: 0 (unlimited) to {LARGEST}, got {usage_limit}")
    if starts and expires and expires <= starts:
        raise InputError("the expiry must be after the start")
    settings = campaign.referrals
    if expires is None and settings.valid_for and settings.valid_for != "unlimited":
        expires = clock.add_duration(starts or ws.now, settings.valid_for)
    with transaction(ws.conn):
        conn = ws.conn
        queries.see_campaigns(conn, ws.catalog, ws.now)
        if code is None:
            code = codes.generate(
                settings.pattern,
                settings.characters,
                lambda c: queries.exists(conn, "referrals", "code", c),
            )
        elif queries.exists(conn, "referrals", "code", code):
            raise ConflictError(f"referral code {code!r} already exists")
        _ensure_profile(ws, advocate)
        referral = Referral(
            code=code,
            campaign_id=campaign.id,
            advocate_id=advocate,
            friend_id=friend,
            usage_limit=settings.usage_limit if usage_limit is None else usage_limit,
            usage_counter=0,
            start_date=starts,
            expiry_date=expires,
            created=ws.now,
            attributes=dict(attributes or {}),
        )
        referral = replace(referral, talon_id=queries.insert_referral(conn, referral, None))
    return referral


def create_referrals(ws: Workspace, request: ReferralInput) -> list[Referral]:
    """POST /v1/referrals_for_multiple_advocates: one code per advocate, all or none."""
    with transaction(ws.conn):
        return [
            create_referral(
                ws,
                request.campaign_id,
                advocate,
                usage_limit=request.usage_limit,
                starts=request.starts,
                expires=request.expires,
                attributes=request.attributes,
            )
            for advocate in request.advocates
        ]


def create_coupons(
    ws: Workspace,
    campaign_id: str,
    code: str | None = None,
    count: int = 1,
    recipient: str | None = None,
    usage_limit: int | None = None,
    starts: datetime | None = None,
    expires: datetime | None = None,
) -> list[Coupon]:
    """Create `count` coupons from the campaign's [campaign.coupons], or import one `code`."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    _require_feature(campaign, "coupons", "coupons")
    if code is not None:
        check_id(code, "--code")
        if count != 1:
            raise InputError("--code and --count contradict each other; give one")
    if not 1 <= count <= 100_000:
        raise InputError(f"--count: must be 1 to 100000, got {count}")
    if recipient is not None:
        check_id(recipient, "--recipient")
    if usage_limit is not None and not 0 <= usage_limit <= LARGEST:
        raise InputError(f"--usage-limit: 0 (unlimited) to {LARGEST}, got {usage_limit}")
    if starts and expires and expires <= starts:
        raise InputError("--expires must be after --starts")
    settings = campaign.coupons
    if code is None and count > codes.space(settings.pattern, settings.characters):
        raise InputError(
            f"--count {count}: pattern {settings.pattern!r} can make only "
            f"{codes.space(settings.pattern, settings.characters):,} codes"
        )
    if expires is None and settings.valid_for and settings.valid_for != "unlimited":
        expires = clock.add_duration(starts or ws.now, settings.valid_for)
    created = []
    with transaction(ws.conn):
        conn = ws.conn
        queries.see_campaigns(conn, ws.catalog, ws.now)
        if code is not None and queries.exists(conn, "coupons", "code", code):
            raise ConflictError(f"coupon code {code!r} already exists")
        if recipient is not None:
            _ensure_profile(ws, recipient)
        for _ in range(count):
            value = code or codes.generate(
                settings.pattern,
                settings.characters,
                lambda c: queries.exists(conn, "coupons", "code", c),
            )
            coupon = Coupon(
                code=value,
                campaign_id=campaign.id,
                recipient_id=recipient,
                usage_limit=settings.usage_limit if usage_limit is None else usage_limit,
                usage_counter=0,
                start_date=starts,
                expiry_date=expires,
                created=ws.now,
            )
            coupon = replace(coupon, talon_id=queries.insert_coupon(conn, coupon, None))
            created.append(coupon)
    return created


def coupons(
    ws: Workspace,
    campaign: str | None = None,
    recipient: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Coupon], int]:
    """A page of coupon codes and how many there are in all."""
    page = queries.list_coupons(ws.stored, campaign, recipient, limit, offset)
    if limit is None and (page or not offset):  # the whole list from offset: no count needed
        return page, offset + len(page)
    return page, queries.count_coupons(ws.stored, campaign, recipient)


def get_coupon(ws: Workspace, code: str) -> Coupon:
    coupon = queries.get_coupon(ws.stored, code)
    if coupon is None:
        raise NotFoundError(f"no coupon code {code!r}")
    return coupon


def reserve_coupon(ws: Workspace, code: str, profile_id: str) -> tuple[Coupon, bool]:
    """Reserve a coupon for a customer ("You can reserve coupons for a specific customer");
    returns the coupon and whether the reservation is new."""
    check_id(profile_id, "--profile")
    with transaction(ws.conn):
        coupon = get_coupon(ws, code)
        if coupon.recipient_id not in (None, profile_id):
            raise ConflictError(f"coupon {code} is already reserved for {coupon.recipient_id}")
        _ensure_profile(ws, profile_id)
        queries.reserve_coupon(ws.conn, code, profile_id)
    return replace(coupon, recipient_id=profile_id), coupon.recipient_id is None


def reserve_coupon_for(ws: Workspace, code: str, customers: tuple[str, ...]) -> Coupon:
    """POST /v1/coupon_reservations/{code}: reserve a coupon for customers. refcamp keeps one
    recipient per coupon, so a coupon can be reserved for one customer (409 otherwise)."""
    if len(set(customers)) > 1:
        raise ConflictError(
            f"coupon {code}: refcamp reserves a coupon for one customer, got {len(set(customers))}"
        )
    return reserve_coupon(ws, code, customers[0])[0]


def unreserve_coupon(ws: Workspace, code: str, customers: tuple[str, ...]) -> None:
    """DELETE /v1/coupon_reservations/{code}: remove the reservation for these customers."""
    with transaction(ws.conn):
        coupon = get_coupon(ws, code)
        if coupon.recipient_id is not None and coupon.recipient_id in customers:
            queries.reserve_coupon(ws.conn, code, None)


def reserved_customers(ws: Workspace, code: str) -> list[tuple[Profile, Views]]:
    """GET /v1/coupon_reservations/customerprofiles/{code}: who the coupon is reserved for."""
    with snapshot(ws.stored):
        coupon = get_coupon(ws, code)
        if coupon.recipient_id is None:
            return []
        profile = get_profile(ws, coupon.recipient_id)
        return [(profile, _customer_views(ws.conn, profile.id))]


def reopen_session(ws: Workspace, session_id: str, dry_run: bool = False) -> Response:
    """PUT /v2/customer_sessions/{id}/reopen: a closed session is open again, and what its close
    booked (points, code uses, discounts) is rolled back; closing it again books anew."""
    check_id(session_id, "customerSessionId")
    response = Response(dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        session = get_session(ws, session_id)
        if session.state != "closed":
            raise ConflictError(
                f"session {session_id} is {session.state}; only a closed session can be reopened"
            )
        _roll_back(ws, session, response)
        # What stood after returns is rolled back too: the cart is whole again, to be edited
        # (the returned items taken out) before the session closes anew.
        queries.forget_returns(ws.conn, session_id)
        session = replace(session, state="open", updated=ws.now)
        queries.save_session(ws.conn, session)
        queries.save_session_effects(ws.conn, session_id, response.effects)
        response.session = session
        response.profile = queries.get_profile(ws.conn, session.profile_id or "")
        response.events = ("talon_session_reopened",)
        _attach_views(ws, response)
    return response


def get_referral(ws: Workspace, code: str) -> Referral:
    referral = queries.get_referral(ws.stored, code)
    if referral is None:
        raise NotFoundError(f"no referral code {code!r}")
    return referral


def ledger(ws: Workspace, profile_id: str, program: str | None = None) -> list[LedgerEntry]:
    get_profile(ws, profile_id)
    if program is not None:
        program = _program(ws, program).id
    return queries.ledger(ws.conn, profile_id, program)


def balances(ws: Workspace, profile_id: str, program: str | None = None) -> dict[str, Any]:
    """Per program of the catalog (and any other the ledger names): the Balance as of now."""
    from refcamp.loyalty import Balance
    from refcamp.loyalty import balances as derive

    _ = ws.stored  # before a program's number is looked up in it
    catalog = ws.catalog
    if program is not None:
        program = _program(ws, program).id
    derived = derive(ledger(ws, profile_id, program), ws.now)
    names = [program] if program else list(catalog.programs)
    names += [p for p in derived if p not in names]
    return {p: derived.get(p, Balance()) for p in names}


def _program(ws: Workspace, program: str) -> Any:
    """A loyalty program by its readable id or its Talon.One integer id."""
    programs = ws.catalog.programs
    if program not in programs and program.isascii() and program.isdigit():
        program = ws.talon_ids().key("program", int(program)) or program
    if program not in programs:
        from refcamp.tables import unknown_hint

        raise NotFoundError(f"no loyalty program {program!r}{unknown_hint(program, programs)}")
    return programs[program]


def adjust_points(
    ws: Workspace,
    profile_id: str,
    program: str,
    points: int,
    reason: str,
    deduct: bool = False,
) -> tuple[LedgerEntry, Any]:
    """A manual addition or deduction; returns the entry and the balance after it.

    An addition follows the program's pending and validity settings. A deduction never takes the
    current balance below zero, nor spends what a deduction booked for a later moment needs
    (ConflictError)."""
    from refcamp.loyalty import balance, spendable

    settings = _program(ws, program)
    program = settings.id
    check_id(profile_id, "profile id")
    if not 1 <= points <= LARGEST:
        raise InputError(f"--points: 1 to {LARGEST}, got {points}")
    if not reason.strip():
        raise InputError("--reason: must not be empty")
    with transaction(ws.conn):
        now = ws.now
        if deduct:
            get_profile(ws, profile_id)
            entries = queries.ledger(ws.conn, profile_id, program)
            available = spendable(entries, now)
            if points > available:
                current = balance(entries, now).current
                raise ConflictError(
                    f"{profile_id} has {current} current points in {program}; cannot deduct "
                    f"{points}"
                    + (
                        f" (a later deduction or rollback needs {current - available} of them: "
                        f"at most {available} now)"
                        if available < current
                        else ""
                    )
                )
            start, expiry = now, None
        else:
            _ensure_profile(ws, profile_id)
            start = (
                now
                if settings.pending == "immediate"
                else clock.add_duration(now, settings.pending)
            )
            expiry = None
            if settings.validity != "unlimited":
                expiry = clock.add_duration(start, settings.validity)
        entry = LedgerEntry(
            transaction_uuid=codes.transaction_uuid(),
            program_id=program,
            profile_id=profile_id,
            type="subtraction" if deduct else "addition",
            amount=points,
            name=reason,
            created=now,
            start_date=start,
            expiry_date=expiry,
        )
        entry = replace(entry, talon_id=queries.insert_entry(ws.conn, entry))
        after = balance(queries.ledger(ws.conn, profile_id, program), now)
    return entry, after


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
    from refcamp.store.check import check

    conn = ws.stored
    programs: Any = ws.catalog.programs if ws.campaigns_dir.exists() else {}
    with snapshot(conn):
        if ws.__dict__.get("_broken_catalog"):  # which programs exist cannot be known
            programs = [r[0] for r in conn.execute("SELECT DISTINCT program_id FROM ledger")]
        return check(conn, programs, ws.now)


def _attach_views(ws: Workspace, response: Response) -> None:
    """What the response shows besides effects: the profile's statistics and audiences, and
    what responseContent asked for (balances, coupons, the referral)."""
    conn, wanted, session = ws.conn, response.response_content, response.session
    profile_id = response.profile.id if response.profile else None
    if "coupons" in wanted and session is not None:
        found = (queries.get_coupon(conn, c) for c in session.coupon_codes)
        response.coupons = [
            (c, queries.profile_redemptions(conn, "coupon", c.code, profile_id))
            for c in found
            if c is not None
        ]
    if "previousReturns" in wanted and session is not None:
        response.previous_returns = queries.session_returns(conn, session.id)
    if "referral" in wanted and session is not None and session.referral_code:
        code = queries.get_referral(conn, session.referral_code)
        if code is not None:
            response.referral = (code, queries.referred(conn, code.code))
    # Read when the response is shaped: a replay that writes no responses never pays for them.
    # A model made by this request has no row id yet: that too is read then.
    profile = response.profile

    def views() -> Views:
        shown = Views()
        if profile is not None:
            shown = _customer_views(conn, profile.id)._replace(
                profile_number=profile.talon_id or queries.row_id(conn, "profiles", profile.id)
            )
        if session is not None:
            shown = shown._replace(
                first_session=queries.first_session(conn, session),
                returned_items=queries.returned(conn, session.id),
                session_number=session.talon_id or queries.row_id(conn, "sessions", session.id),
            )
        return shown

    response.view_loader = views
    if "loyalty" in wanted and profile_id is not None:
        response.loyalty = balances(ws, profile_id)
    if response.dry_run:
        # Read now: after the rollback they would show the state before (the ids included: an
        # audience first joined by this request has its id only until then).
        _ = response._views
        ws.talon_ids()
        ws.reread_after_rollback()
