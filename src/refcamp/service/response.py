"""What a request did (Response), before a door shapes it for people or scripts, and the views
it shows beside the models (statistics, audiences, first session, returns)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from refcamp.engine import Evaluation
from refcamp.models import Coupon, Effect, Profile, Referral, Session
from refcamp.service.points import balances, with_open_session
from refcamp.service.workspace import Workspace
from refcamp.store import queries

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


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


def customer_views(conn: Connection, profile_id: str) -> Views:
    """What a customer profile shows beyond the model: statistics and audiences."""
    return Views(
        queries.profile_stats(conn, profile_id), sorted(queries.audiences(conn, profile_id))
    )


def attach_views(ws: Workspace, response: Response) -> None:
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
            shown = customer_views(conn, profile.id)._replace(
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
        response.loyalty = with_open_session(
            balances(ws, profile_id), response.effects, profile_id, ws.now
        )
    if response.dry_run:
        # Read now: after the rollback they would show the state before (the ids included: an
        # audience first joined by this request has its id only until then).
        _ = response._views
        ws.talon_ids()
        ws.reread_after_rollback()
