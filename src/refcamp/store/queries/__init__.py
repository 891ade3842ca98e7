"""Queries: rows in, models out. Every statement uses parameters; no SQL is built from user data.

One module per resource; this package gives them all under one name (`queries.get_profile`).
A module imports what another owns from that module, never through this package."""

from refcamp.store.queries.attributes import erase_attributes, set_attribute
from refcamp.store.queries.audiences import audiences, join_audience, leave_audience
from refcamp.store.queries.campaigns import (
    campaign_states,
    give_talon_id,
    give_talon_ids,
    see_campaigns,
    set_campaign_state,
    talon_ids,
)
from refcamp.store.queries.coupons import (
    codes_by_campaign,
    count_coupons,
    customer_coupons,
    get_coupon,
    insert_coupon,
    list_coupons,
    reserve_coupon,
)
from refcamp.store.queries.discounts import (
    insert_discount,
    reduce_discount,
    roll_back_discount,
    session_discounts,
)
from refcamp.store.queries.events import (
    forget_returns,
    insert_event,
    insert_returns,
    returned,
    session_returns,
)
from refcamp.store.queries.ledger_entries import (
    CHAINED,
    chain_hash,
    insert_entry,
    ledger,
    session_entries,
)
from refcamp.store.queries.limits import usage
from refcamp.store.queries.profiles import get_profile, profile_stats, save_profile
from refcamp.store.queries.redemptions import (
    profile_redemptions,
    redeem,
    roll_back_redemption,
    session_redemptions,
)
from refcamp.store.queries.referrals import (
    count_referrals,
    get_referral,
    insert_referral,
    list_referrals,
    redeemed_referrals,
    referred,
)
from refcamp.store.queries.replays import (
    replay_logs,
    replay_logs_from,
    replay_progress,
    save_replay_progress,
)
from refcamp.store.queries.request_log import (
    customer_keys,
    drop_requests,
    forget_requests,
    log_requests,
    logged_request,
    logged_requests,
    request_texts,
)
from refcamp.store.queries.rows import (
    EVERY_ROW,
    DamagedRow,
    Loader,
    dumps,
    exists,
    loader,
    loads,
    row_id,
    same_but_case,
)
from refcamp.store.queries.sessions import (
    CART_FIELDS,
    count_customer_sessions,
    customer_sessions,
    first_session,
    get_session,
    save_session,
    save_session_effects,
    session_effects,
)
from refcamp.store.queries.statistics import campaign_figures, count_rejection, ledger_programs

__all__ = [
    "CART_FIELDS",
    "CHAINED",
    "EVERY_ROW",
    "DamagedRow",
    "Loader",
    "audiences",
    "campaign_figures",
    "campaign_states",
    "chain_hash",
    "codes_by_campaign",
    "count_coupons",
    "count_customer_sessions",
    "count_referrals",
    "count_rejection",
    "customer_coupons",
    "customer_keys",
    "customer_sessions",
    "drop_requests",
    "dumps",
    "erase_attributes",
    "exists",
    "first_session",
    "forget_requests",
    "forget_returns",
    "get_coupon",
    "get_profile",
    "get_referral",
    "get_session",
    "give_talon_id",
    "give_talon_ids",
    "insert_coupon",
    "insert_discount",
    "insert_entry",
    "insert_event",
    "insert_referral",
    "insert_returns",
    "join_audience",
    "leave_audience",
    "ledger",
    "ledger_programs",
    "list_coupons",
    "list_referrals",
    "loader",
    "loads",
    "log_requests",
    "logged_request",
    "logged_requests",
    "profile_redemptions",
    "profile_stats",
    "redeem",
    "redeemed_referrals",
    "reduce_discount",
    "referred",
    "replay_logs",
    "replay_logs_from",
    "replay_progress",
    "request_texts",
    "reserve_coupon",
    "returned",
    "roll_back_discount",
    "roll_back_redemption",
    "row_id",
    "same_but_case",
    "save_profile",
    "save_replay_progress",
    "save_session",
    "save_session_effects",
    "see_campaigns",
    "session_discounts",
    "session_effects",
    "session_entries",
    "session_redemptions",
    "session_returns",
    "set_attribute",
    "set_campaign_state",
    "talon_ids",
    "usage",
]
