"""Use cases: one function per request, shared by every door (CLI, replay, HTTP).

Each request opens one transaction (BEGIN IMMEDIATE), loads the facts, calls the pure engine,
carries out the effects it planned and returns a Response. A dry run is the same code path ending
in ROLLBACK, so it shows exactly what a real run would do. Points and code uses are booked only
when a session closes (or by a profile update); an open session's effects are tentative, as in
Talon.One.

The rooms, each allowed to use only those listed before it (tests/test_architecture.py checks):

- workspace: where a command's state lives (the connection, the catalog, the clock, caches)
- lookup: get-or-raise (and get-or-create) of the records requests name
- points: ledger entries (made in one place), balances, manual additions and deductions
- response: what a request did, and the views it shows beside the models
- booking: carrying out planned effects inside the request's transaction
- rollback: reversing what a closed session booked (revocation, reopen, return)
- facts: what the engine may look at, loaded inside the transaction; running the rules
- campaign_states: campaigns with their states, switching them
- profiles, sessions, events, referral_codes, coupon_codes: the requests, one room per noun
- reports: what the state file says as a whole (campaign figures, invariants)
- replays: how far each replayed log got (committed with its batch)
- authoring: checking campaign files and writing new ones from templates
"""

from __future__ import annotations

from refcamp.service.campaign_states import (
    campaigns,
    set_campaign_state,
    states_in,
    unreachable_codes,
)
from refcamp.service.coupon_codes import (
    coupons,
    create_coupons,
    reserve_coupon,
    reserved_customers,
    unreserve_coupon,
)
from refcamp.service.events import track_event
from refcamp.service.lookup import (
    find_campaign,
    find_program,
    get_coupon,
    get_profile,
    get_referral,
    get_session,
)
from refcamp.service.points import adjust_points, balances, ledger
from refcamp.service.profiles import (
    History,
    Inventory,
    change_audiences,
    create_audience,
    delete_customer_data,
    history,
    inventory,
    update_profile,
    update_profiles,
    why_no_code,
)
from refcamp.service.referral_codes import create_referral, create_referrals, referrals
from refcamp.service.reports import campaign_stats, check_state, copy_state
from refcamp.service.response import Response, Views
from refcamp.service.sessions import (
    cancel_session,
    reopen_session,
    return_items,
    session_view,
    update_session,
)
from refcamp.service.workspace import Workspace

__all__ = [
    "History",
    "Inventory",
    "Response",
    "Views",
    "Workspace",
    "adjust_points",
    "balances",
    "campaign_stats",
    "campaigns",
    "cancel_session",
    "change_audiences",
    "check_state",
    "copy_state",
    "coupons",
    "create_audience",
    "create_coupons",
    "create_referral",
    "create_referrals",
    "delete_customer_data",
    "find_campaign",
    "find_program",
    "get_coupon",
    "get_profile",
    "get_referral",
    "get_session",
    "history",
    "inventory",
    "ledger",
    "referrals",
    "reopen_session",
    "reserve_coupon",
    "reserved_customers",
    "return_items",
    "session_view",
    "set_campaign_state",
    "states_in",
    "track_event",
    "unreachable_codes",
    "unreserve_coupon",
    "update_profile",
    "update_profiles",
    "update_session",
    "why_no_code",
]
