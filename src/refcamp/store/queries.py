"""Queries: rows in, models out. Every statement uses parameters; no SQL is built from user data."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from refcamp.clock import from_iso, iso
from refcamp.errors import StateFileError
from refcamp.models import (
    Campaign,
    CampaignFigures,
    CartItem,
    Catalog,
    CodeFigures,
    Coupon,
    Discount,
    Effect,
    LedgerEntry,
    LoggedRequest,
    PointFigures,
    Profile,
    Redemption,
    Referral,
    Session,
)

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def loads(text: str) -> Any:
    """Stored JSON back; most stored attributes and lists are empty, so those skip the parser."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def dumps(value: Any) -> str:
    if not value and isinstance(value, dict | list):  # most attributes are empty
        return "{}" if isinstance(value, dict) else "[]"
    return _dumps(value)


# One encoder for every write: json.dumps given options builds a new encoder at each call, a
# third of the time a small value's encoding took.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# --- campaigns ---------------------------------------------------------------------------------


def campaign_states(conn: Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT id, state FROM campaigns").fetchall())


def see_campaigns(conn: Connection, catalog: Catalog, now: datetime) -> None:
    """Record campaigns seen for the first time with their initial (TOML) state."""
    conn.executemany(
        "INSERT OR IGNORE INTO campaigns (id, state, updated) VALUES (?, ?, ?)",
        [(c.id, c.state, iso(now)) for c in catalog.campaigns],
    )


def talon_ids(conn: Connection) -> dict[tuple[str, str], int]:
    """Every integer id given so far: (kind, key) -> number."""
    return {(k, key): n for k, key, n in conn.execute("SELECT kind, key, number FROM talon_ids")}


def give_talon_ids(conn: Connection, wanted: Iterable[tuple[str, str, int | None]]) -> None:
    """Give each (kind, key, number fixed in the TOML or None) its integer id: the fixed number,
    else the one the key was first given, else the kind's next number. The caller has refused
    a fixed number another key holds."""
    for kind, key, fixed in wanted:
        if fixed is None:
            give_talon_id(conn, kind, key)
        else:
            conn.execute(
                "INSERT INTO talon_ids (kind, key, number) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET number = excluded.number",
                (kind, key, fixed),
            )


def give_talon_id(conn: Connection, kind: str, key: str) -> None:
    """Give a key the kind's next number, unless it has one."""
    conn.execute(
        "INSERT OR IGNORE INTO talon_ids (kind, key, number) SELECT ?1, ?2, "
        "coalesce(max(number), 0) + 1 FROM talon_ids WHERE kind = ?1",
        (kind, key),
    )


def set_campaign_state(conn: Connection, campaign_id: str, state: str, now: datetime) -> None:
    conn.execute(
        "INSERT INTO campaigns (id, state, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated = excluded.updated",
        (campaign_id, state, iso(now)),
    )


class DamagedRow(StateFileError):
    """A row edited out of refcamp's shape; `problem` names it (db check lists it as is)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem}; `refcamp db check` lists what is wrong")


# --- reading rows ------------------------------------------------------------------------------

Loader = TypeVar("Loader", bound=Callable[[sqlite3.Row], Any])


def loader(what: str, key: str) -> Callable[[Loader], Loader]:
    """A row-to-model function that turns a row edited out of refcamp's shape (a cart that is
    not a list, a date that is not a date) into one clear StateFileError naming the row, instead
    of a TypeError deep in whatever read it. `refcamp db check` runs every row through these."""

    def wrap(load: Loader) -> Loader:
        def guarded(row: sqlite3.Row) -> Any:
            try:
                return load(row)
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                problem = f"{what} {row[key]!r} in the state file is damaged ({error})"
                raise DamagedRow(problem) from None

        return guarded  # type: ignore[return-value]

    return wrap


def _time(text: Any) -> datetime | None:
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{text!r} is not a time")
    return from_iso(text)


def _object(text: str) -> dict[str, Any]:
    value = loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{text[:40]!r} is not a JSON object")
    return value


def _list(text: str) -> list[Any]:
    value = loads(text)
    if not isinstance(value, list):
        raise ValueError(f"{text[:40]!r} is not a JSON array")
    return value


def _strings(text: str) -> tuple[str, ...]:
    value = _list(text)
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{text[:40]!r} is not a list of strings")
    return tuple(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- profiles ----------------------------------------------------------------------------------


def get_profile(conn: Connection, profile_id: str) -> Profile | None:
    row = conn.execute("SELECT rowid, * FROM profiles WHERE id = ?", (profile_id,)).fetchone()
    return _profile(row) if row else None


@loader("profile", "id")
def _profile(row: sqlite3.Row) -> Profile:
    return Profile(
        row["id"],
        _object(row["attributes"]),
        _time(row["created"]),
        _time(row["updated"]),
        row["rowid"],
    )


def save_profile(conn: Connection, profile: Profile) -> None:
    conn.execute(
        "INSERT INTO profiles (id, attributes, created, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, "
        "updated = excluded.updated",
        (profile.id, dumps(dict(profile.attributes)), iso(profile.created), iso(profile.updated)),
    )


def row_id(conn: Connection, table: str, key: str) -> int:
    """A profile's or session's row id: Talon.One's integer id of it."""
    # table is refcamp's own constant, never user data.
    assert table in {"profiles", "sessions"}
    row = conn.execute(f"SELECT rowid FROM {table} WHERE id = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def profile_stats(conn: Connection, profile_id: str) -> tuple[int, float, str | None]:
    """(closed sessions, total sales, last activity) as Talon.One's customerProfile reports them."""
    closed = 0
    sales = 0.0
    last = None
    for row in conn.execute("SELECT rowid, * FROM sessions WHERE profile_id = ?", (profile_id,)):
        last = max(last or row["updated"], row["updated"])
        if row["state"] == "closed":
            closed += 1
            sales += _session(row).total
    return closed, sales, last


def save_session_effects(conn: Connection, session_id: str, effects: Iterable[Effect]) -> None:
    """Keep the effects of a session's latest evaluation (getCustomerSession shows them)."""
    conn.execute("UPDATE sessions SET effects = ? WHERE id = ?", (_effects(effects), session_id))


def _effects(effects: Iterable[Effect]) -> str:
    """Effects as stored (a session's latest, a logged request's)."""
    return dumps(
        [
            [e.campaign_id, e.ruleset_id, e.rule_index, e.rule_name, e.effect_type, dict(e.props)]
            for e in effects
        ]
    )


def _effects_of(text: str) -> list[Effect]:
    return [
        Effect(campaign, ruleset, index, name, kind, props)
        for campaign, ruleset, index, name, kind, props in loads(text)
    ]


def session_effects(conn: Connection, session_id: str) -> list[Effect]:
    row = conn.execute("SELECT effects FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return _effects_of(row[0] if row else "[]")


def first_session(conn: Connection, session: Session) -> bool:
    """Whether no session of the same customer came before this one."""
    if session.profile_id is None:
        return True
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM sessions WHERE profile_id = ? AND rowid < "
        "coalesce((SELECT rowid FROM sessions WHERE id = ?), 4611686018427387904))",
        (session.profile_id, session.id),
    ).fetchone()
    return bool(row[0])


# --- sessions ----------------------------------------------------------------------------------


def get_session(conn: Connection, session_id: str) -> Session | None:
    row = conn.execute("SELECT rowid, * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return _session(row) if row else None


@loader("session", "id")
def _session(row: sqlite3.Row) -> Session:
    costs = _object(row["additional_costs"])
    if not all(_is_number(v) for v in costs.values()):
        raise ValueError("additional costs are not all numbers")
    return Session(
        id=row["id"],
        profile_id=row["profile_id"],
        state=row["state"],
        cart_items=tuple(_cart_item(item) for item in _list(row["cart_items"])),
        coupon_codes=_strings(row["coupon_codes"]),
        referral_code=row["referral_code"],
        attributes=_object(row["attributes"]),
        additional_costs=costs,
        identifiers=_strings(row["identifiers"]),
        created=_time(row["created"]),
        updated=_time(row["updated"]),
        talon_id=row["rowid"],
    )


def customer_sessions(conn: Connection, profile_id: str, limit: int) -> list[Session]:
    """A customer's newest sessions first (at most `limit`)."""
    rows = conn.execute(
        "SELECT rowid, * FROM sessions WHERE profile_id = ? ORDER BY created DESC, rowid DESC "
        "LIMIT ?",
        (profile_id, limit),
    )
    return [_session(row) for row in rows]


def count_customer_sessions(conn: Connection, profile_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM sessions WHERE profile_id = ?", (profile_id,))
    return int(row.fetchone()[0])


# The types of a stored cart item's fields, as save_session writes them.
CART_FIELDS: dict[str, tuple[type, ...]] = {
    "sku": (str,),
    "quantity": (int,),
    "name": (str,),
    "price": (int, float),
    "category": (str,),
    "weight": (int, float),
    "position": (int,),
    "attributes": (dict,),
}


def _cart_item(item: Any) -> CartItem:
    if not isinstance(item, dict) or "sku" not in item or "quantity" not in item:
        raise ValueError("a cart item is not an object with a sku and a quantity")
    for name, value in item.items():
        kinds = CART_FIELDS.get(name)
        if kinds is None or isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"cart item field {name!r} is {value!r}")
    return CartItem(**item)


def save_session(conn: Connection, session: Session) -> None:
    items = [
        {
            "sku": i.sku,
            "quantity": i.quantity,
            "name": i.name,
            "price": i.price,
            "category": i.category,
            "weight": i.weight,
            "position": i.position,
            "attributes": dict(i.attributes),
        }
        for i in session.cart_items
    ]
    conn.execute(
        "INSERT INTO sessions (id, profile_id, state, cart_items, coupon_codes, referral_code, "
        "attributes, additional_costs, identifiers, created, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET profile_id = excluded.profile_id, state = excluded.state, "
        "cart_items = excluded.cart_items, coupon_codes = excluded.coupon_codes, "
        "referral_code = excluded.referral_code, attributes = excluded.attributes, "
        "additional_costs = excluded.additional_costs, identifiers = excluded.identifiers, "
        "updated = excluded.updated",
        (
            session.id,
            session.profile_id,
            session.state,
            dumps(items),
            dumps(list(session.coupon_codes)),
            session.referral_code,
            dumps(dict(session.attributes)),
            dumps(dict(session.additional_costs)),
            dumps(list(session.identifiers)),
            iso(session.created),
            iso(session.updated),
        ),
    )


def exists(conn: Connection, table: str, key: str, value: str) -> bool:
    # table and key are refcamp's own constants, never user data.
    assert table in {"profiles", "sessions", "referrals", "coupons"} and key in {"id", "code"}
    sql = f"SELECT 1 FROM {table} WHERE {key} = ?"
    return conn.execute(sql, (value,)).fetchone() is not None


# --- referrals ---------------------------------------------------------------------------------


@loader("referral code", "code")
def _referral(row: sqlite3.Row) -> Referral:
    return Referral(
        code=row["code"],
        campaign_id=row["campaign_id"],
        advocate_id=row["advocate_id"],
        friend_id=row["friend_id"],
        usage_limit=row["usage_limit"],
        usage_counter=row["usage_counter"],
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        created=_time(row["created"]),
        attributes=_object(row["attributes"]),
        talon_id=row["rowid"],
    )


def get_referral(conn: Connection, code: str) -> Referral | None:
    row = conn.execute("SELECT rowid, * FROM referrals WHERE code = ?", (code,)).fetchone()
    return _referral(row) if row else None


def insert_referral(conn: Connection, referral: Referral, session_id: str | None) -> int:
    """Insert a new referral code; returns its integer id."""
    cursor = conn.execute(
        "INSERT INTO referrals (code, campaign_id, advocate_id, friend_id, usage_limit, "
        "usage_counter, start_date, expiry_date, attributes, session_id, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            referral.code,
            referral.campaign_id,
            referral.advocate_id,
            referral.friend_id,
            referral.usage_limit,
            referral.usage_counter,
            iso(referral.start_date),
            iso(referral.expiry_date),
            dumps(dict(referral.attributes)),
            session_id,
            iso(referral.created),
        ),
    )
    return cursor.lastrowid or 0


# LIMIT without a limit: SQLite's -1 is refused by PostgreSQL, and NULL by SQLite.
EVERY_ROW = 1 << 62

_REFERRALS = (
    # CAST: PostgreSQL must know a parameter's type when it is only tested for NULL.
    "FROM referrals WHERE (CAST(?1 AS TEXT) IS NULL OR advocate_id = ?1) "
    "AND (CAST(?2 AS TEXT) IS NULL OR campaign_id = ?2)"
)


def list_referrals(
    conn: Connection,
    advocate: str | None = None,
    campaign: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Referral]:
    """A page of referral codes, oldest first (`limit` None: all after `offset`)."""
    rows = conn.execute(
        f"SELECT rowid, * {_REFERRALS} ORDER BY created, code LIMIT ?3 OFFSET ?4",
        (advocate, campaign, EVERY_ROW if limit is None else limit, offset),
    )
    return [_referral(row) for row in rows]


def count_referrals(
    conn: Connection, advocate: str | None = None, campaign: str | None = None
) -> int:
    return int(conn.execute(f"SELECT count(*) {_REFERRALS}", (advocate, campaign)).fetchone()[0])


# Statement templates filled with refcamp's own constants only (the sign), never user data.
_COUNTER = {
    "referral": "UPDATE referrals SET usage_counter = usage_counter {sign} 1 WHERE code = ?",
    "coupon": "UPDATE coupons SET usage_counter = usage_counter {sign} 1 WHERE code = ?",
}


def redeem(
    conn: Connection,
    kind: str,
    code: str,
    effect: Effect,
    session_id: str,
    profile_id: str | None,
    now: datetime,
) -> None:
    """Count one use of a code: a redemption row, and the code's usage counter."""
    conn.execute(
        "INSERT INTO redemptions (kind, code, campaign_id, session_id, profile_id, rule_index, "
        "rule_name, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            code,
            effect.campaign_id,
            session_id,
            profile_id,
            effect.rule_index,
            effect.rule_name,
            iso(now),
        ),
    )
    conn.execute(_COUNTER[kind].format(sign="+"), (code,))


def profile_redemptions(conn: Connection, kind: str, code: str, profile_id: str | None) -> int:
    """How many times a customer redeemed a code (uses rolled back do not count)."""
    row = conn.execute(
        "SELECT count(*) FROM redemptions WHERE kind = ? AND code = ? "
        "AND profile_id IS NOT DISTINCT FROM ? AND rolled_back IS NULL",
        (kind, code, profile_id),
    ).fetchone()
    return int(row[0])


def referred(conn: Connection, code: str) -> list[str]:
    """The customers a referral code brought (uses rolled back do not count)."""
    rows = conn.execute(
        "SELECT profile_id FROM redemptions WHERE kind = 'referral' AND code = ? "
        "AND rolled_back IS NULL AND profile_id IS NOT NULL GROUP BY profile_id ORDER BY min(id)",
        (code,),
    )
    return [row[0] for row in rows]


def redeemed_referrals(conn: Connection, profile_id: str) -> list[tuple[Referral, int]]:
    """The referral codes a customer redeemed as a friend, with their uses by them (uses rolled
    back do not count), in the order first redeemed."""
    rows = conn.execute(
        "SELECT r.rowid, r.*, count(u.rolled_back IS NULL OR NULL) AS uses FROM referrals r "
        "JOIN redemptions u ON u.kind = 'referral' AND u.code = r.code AND u.profile_id = ? "
        "GROUP BY r.code ORDER BY min(u.id)",
        (profile_id,),
    )
    return [(_referral(row), int(row["uses"])) for row in rows]


# --- loyalty -----------------------------------------------------------------------------------


def insert_entry(conn: Connection, entry: LedgerEntry) -> int:
    """Append an entry to the ledger, chained to the customer's previous entry in the program;
    returns its integer id."""
    values = {
        "transaction_uuid": entry.transaction_uuid,
        "program_id": entry.program_id,
        "profile_id": entry.profile_id,
        "session_id": entry.session_id,
        "campaign_id": entry.campaign_id,
        "rule_index": entry.rule_index,
        "rule_name": entry.rule_name,
        "type": entry.type,
        "amount": entry.amount,
        "name": entry.name,
        "start_date": iso(entry.start_date),
        "expiry_date": iso(entry.expiry_date),
        "reverses": entry.reverses,
        "created": iso(entry.created),
    }
    previous = conn.execute(
        "SELECT chain FROM ledger WHERE profile_id = ? AND program_id = ? ORDER BY id DESC LIMIT 1",
        (entry.profile_id, entry.program_id),
    ).fetchone()
    values["chain"] = chain_hash(previous[0] if previous else "", values)
    cursor = conn.execute(
        "INSERT INTO ledger (transaction_uuid, program_id, profile_id, session_id, campaign_id, "
        "rule_index, rule_name, type, amount, name, start_date, expiry_date, reverses, created, "
        "chain) VALUES (:transaction_uuid, :program_id, :profile_id, :session_id, :campaign_id, "
        ":rule_index, :rule_name, :type, :amount, :name, :start_date, :expiry_date, :reverses, "
        ":created, :chain)",
        values,
    )
    return cursor.lastrowid or 0


# What a ledger entry's chain hash covers: every column a balance or a rollback reads.
CHAINED = (
    "transaction_uuid",
    "program_id",
    "profile_id",
    "session_id",
    "campaign_id",
    "rule_index",
    "rule_name",
    "type",
    "amount",
    "name",
    "start_date",
    "expiry_date",
    "reverses",
    "created",
)


def chain_hash(previous: str, row: Mapping[str, Any] | sqlite3.Row) -> str:
    """The hash of a ledger row chained to `previous` (the hash of the entry before it for the
    same customer and program, "" for the first): editing or deleting an entry breaks every
    hash after it. Tamper-evident against hand edits, not a signature: whoever recomputes the
    hashes can forge them."""
    import hashlib

    # ASCII JSON: the same bytes on every Python, whatever characters a reason holds.
    text = _chain_json((previous, *(row[column] for column in CHAINED)))
    return hashlib.sha256(text.encode()).hexdigest()


_chain_json = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _entries(rows: Any) -> list[LedgerEntry]:
    return [_entry(row) for row in rows]


@loader("ledger entry", "transaction_uuid")
def _entry(row: sqlite3.Row) -> LedgerEntry:
    if row["type"] not in ("addition", "subtraction") or not isinstance(row["amount"], int):
        raise ValueError(f"type {row['type']!r}, amount {row['amount']!r}")
    return LedgerEntry(
        transaction_uuid=row["transaction_uuid"],
        program_id=row["program_id"],
        profile_id=row["profile_id"],
        type=row["type"],
        amount=row["amount"],
        name=row["name"],
        created=_time(row["created"]),
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        session_id=row["session_id"],
        campaign_id=row["campaign_id"],
        rule_index=row["rule_index"],
        rule_name=row["rule_name"],
        reverses=row["reverses"],
        talon_id=row["id"],
    )


def ledger(conn: Connection, profile_id: str, program_id: str | None = None) -> list[LedgerEntry]:
    return _entries(
        conn.execute(
            "SELECT * FROM ledger WHERE profile_id = ?1 "
            "AND (CAST(?2 AS TEXT) IS NULL OR program_id = ?2) "
            "ORDER BY id",
            (profile_id, program_id),
        )
    )


def session_entries(conn: Connection, session_id: str) -> list[LedgerEntry]:
    """The entries a session booked that no later entry has reversed."""
    return _entries(
        conn.execute(
            "SELECT * FROM ledger AS e WHERE session_id = ? AND reverses IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid) ORDER BY id",
            (session_id,),
        )
    )


def session_redemptions(conn: Connection, session_id: str) -> list[Redemption]:
    """The code uses a session booked that still stand."""
    rows = conn.execute(
        "SELECT id, kind, code, campaign_id, rule_index, rule_name FROM redemptions "
        "WHERE session_id = ? AND rolled_back IS NULL ORDER BY id",
        (session_id,),
    )
    return [Redemption(*row) for row in rows]


def roll_back_redemption(conn: Connection, use: Redemption, now: datetime) -> None:
    """Give a code's use back: mark the redemption and lower the code's counter."""
    conn.execute("UPDATE redemptions SET rolled_back = ? WHERE id = ?", (iso(now), use.id))
    conn.execute(_COUNTER[use.kind].format(sign="-"), (use.code,))


# --- campaign limits -----------------------------------------------------------------------------

_COUNTS = {
    # (action, per): SQL counting what is booked and not rolled back; ?1 campaign, ?2 subject.
    ("redeemReferral", "campaign"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND ?2 = ''",
    ("redeemReferral", "profile"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND profile_id = ?2",
    ("redeemReferral", "code"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND code = ?2",
    ("createReferral", "campaign"): "SELECT count(*) FROM referrals WHERE campaign_id = ?1 "
    "AND ?2 = ''",
    ("createReferral", "profile"): "SELECT count(*) FROM referrals WHERE campaign_id = ?1 "
    "AND advocate_id = ?2",
    ("redeemCoupon", "campaign"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND ?2 = ''",
    ("redeemCoupon", "profile"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND profile_id = ?2",
    ("redeemCoupon", "code"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND code = ?2",
    ("createCoupon", "campaign"): "SELECT count(*) FROM coupons WHERE campaign_id = ?1 AND ?2 = ''",
    ("createCoupon", "profile"): "SELECT count(*) FROM coupons WHERE campaign_id = ?1 "
    "AND recipient_id = ?2",
    ("setDiscount", "campaign"): "SELECT coalesce(sum(value), 0) FROM discounts "
    "WHERE campaign_id = ?1 AND ?2 = '' AND rolled_back IS NULL",
    ("setDiscount", "profile"): "SELECT coalesce(sum(value), 0) FROM discounts "
    "WHERE campaign_id = ?1 AND profile_id = ?2 AND rolled_back IS NULL",
    ("addLoyaltyPoints", "campaign"): "SELECT coalesce(sum(amount), 0) FROM ledger AS e "
    "WHERE campaign_id = ?1 AND ?2 = '' AND type = 'addition' AND reverses IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)",
    ("addLoyaltyPoints", "profile"): "SELECT coalesce(sum(amount), 0) FROM ledger AS e "
    "WHERE campaign_id = ?1 AND profile_id = ?2 AND type = 'addition' AND reverses IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)",
}


def usage(
    conn: Connection,
    campaigns: Iterable[Campaign],
    actions: Container[str],
    profile_id: str | None,
    advocate_id: str | None,
    codes: Iterable[str | None],
) -> dict[tuple[str, str, str, str], float]:
    """The counters behind the campaigns' limits on `actions`, for the customer, the advocate
    behind their referral code and the codes of one request. Only the customer redeems codes;
    what is given may go to the advocate."""
    customer = [profile_id] if profile_id is not None else []
    both = [p for p in dict.fromkeys((profile_id, advocate_id)) if p is not None]
    codes = [c for c in dict.fromkeys(codes) if c is not None]
    counters: dict[tuple[str, str, str, str], int] = {}
    for campaign in campaigns:
        for limit in campaign.limits:
            if limit.action not in actions:
                continue
            if limit.per == "campaign":
                subjects = [""]
            elif limit.per == "code":
                subjects = codes
            else:
                subjects = customer if limit.action in ("redeemReferral", "redeemCoupon") else both
            for subject in subjects:
                sql = _COUNTS[(limit.action, limit.per)]
                value = conn.execute(sql, (campaign.id, subject)).fetchone()[0]
                counters[(campaign.id, limit.action, limit.per, subject)] = value
    return counters


# --- coupons -------------------------------------------------------------------------------------


@loader("coupon code", "code")
def _coupon(row: sqlite3.Row) -> Coupon:
    return Coupon(
        code=row["code"],
        campaign_id=row["campaign_id"],
        recipient_id=row["recipient_id"],
        usage_limit=row["usage_limit"],
        usage_counter=row["usage_counter"],
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        created=_time(row["created"]),
        attributes=_object(row["attributes"]),
        talon_id=row["rowid"],
    )


def get_coupon(conn: Connection, code: str) -> Coupon | None:
    row = conn.execute("SELECT rowid, * FROM coupons WHERE code = ?", (code,)).fetchone()
    return _coupon(row) if row else None


def insert_coupon(conn: Connection, coupon: Coupon, session_id: str | None) -> int:
    """Insert a new coupon; returns its integer id."""
    cursor = conn.execute(
        "INSERT INTO coupons (code, campaign_id, recipient_id, usage_limit, usage_counter, "
        "start_date, expiry_date, attributes, session_id, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            coupon.code,
            coupon.campaign_id,
            coupon.recipient_id,
            coupon.usage_limit,
            coupon.usage_counter,
            iso(coupon.start_date),
            iso(coupon.expiry_date),
            dumps(dict(coupon.attributes)),
            session_id,
            iso(coupon.created),
        ),
    )
    return cursor.lastrowid or 0


def reserve_coupon(conn: Connection, code: str, profile_id: str | None) -> None:
    conn.execute("UPDATE coupons SET recipient_id = ? WHERE code = ?", (profile_id, code))


def codes_by_campaign(conn: Connection) -> dict[str, int]:
    """How many referral and coupon codes each campaign has in the state file."""
    rows = conn.execute(
        "SELECT campaign_id, count(*) FROM (SELECT campaign_id FROM referrals "
        "UNION ALL SELECT campaign_id FROM coupons) AS codes GROUP BY campaign_id"
    )
    return {campaign: count for campaign, count in rows}


_COUPONS = (
    "FROM coupons WHERE (CAST(?1 AS TEXT) IS NULL OR campaign_id = ?1) "
    "AND (CAST(?2 AS TEXT) IS NULL OR recipient_id = ?2)"
)


def list_coupons(
    conn: Connection,
    campaign: str | None = None,
    recipient: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Coupon]:
    """A page of coupon codes, oldest first (`limit` None: all after `offset`)."""
    rows = conn.execute(
        f"SELECT rowid, * {_COUPONS} ORDER BY created, code LIMIT ?3 OFFSET ?4",
        (campaign, recipient, EVERY_ROW if limit is None else limit, offset),
    )
    return [_coupon(row) for row in rows]


def count_coupons(
    conn: Connection, campaign: str | None = None, recipient: str | None = None
) -> int:
    return int(conn.execute(f"SELECT count(*) {_COUPONS}", (campaign, recipient)).fetchone()[0])


def customer_coupons(conn: Connection, profile_id: str) -> list[Coupon]:
    """The coupons reserved for a customer or redeemed by them."""
    rows = conn.execute(
        "SELECT rowid, * FROM coupons WHERE recipient_id = ?1 OR code IN "
        "(SELECT code FROM redemptions WHERE kind = 'coupon' AND profile_id = ?1) "
        "ORDER BY created, code",
        (profile_id,),
    )
    return [_coupon(row) for row in rows]


# --- audiences, events, discounts, attributes ---------------------------------------------------


def audiences(conn: Connection, profile_id: str) -> frozenset[str]:
    rows = conn.execute("SELECT audience FROM audience_members WHERE profile_id = ?", (profile_id,))
    return frozenset(row[0] for row in rows)


def join_audience(conn: Connection, audience: str, profile_id: str, now: datetime) -> bool:
    """Add a member; False when it already was one. A new audience gets its integer id."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO audience_members (audience, profile_id, created) VALUES (?, ?, ?)",
        (audience, profile_id, iso(now)),
    )
    give_talon_id(conn, "audience", audience)
    return cursor.rowcount == 1


def leave_audience(conn: Connection, audience: str, profile_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM audience_members WHERE audience = ? AND profile_id = ?", (audience, profile_id)
    )
    return cursor.rowcount == 1


def erase_attributes(conn: Connection, profile_id: str) -> None:
    """Empty the attributes of a profile and of everything that references it."""
    conn.execute("UPDATE profiles SET attributes = '{}' WHERE id = ?", (profile_id,))
    for table, key in (
        ("sessions", "profile_id"),
        ("events", "profile_id"),
        ("referrals", "advocate_id"),
        ("referrals", "friend_id"),
        ("coupons", "recipient_id"),
    ):
        # table and key are refcamp's own constants, never user data.
        conn.execute(f"UPDATE {table} SET attributes = '{{}}' WHERE {key} = ?", (profile_id,))
    # Events sent with only a session id belong to the session's customer too.
    conn.execute(
        "UPDATE events SET attributes = '{}' WHERE session_id IN "
        "(SELECT id FROM sessions WHERE profile_id = ?)",
        (profile_id,),
    )
    # Cart items keep their attributes inside the cart's JSON: emptied here rather than in SQL,
    # whose JSON functions differ between SQLite and PostgreSQL.
    carts = conn.execute(
        "SELECT id, cart_items FROM sessions WHERE profile_id = ? AND cart_items != '[]'",
        (profile_id,),
    ).fetchall()
    for session_id, cart in carts:
        items = [
            {**item, "attributes": {}} if isinstance(item, dict) else item for item in loads(cart)
        ]
        conn.execute("UPDATE sessions SET cart_items = ? WHERE id = ?", (dumps(items), session_id))


def insert_event(
    conn: Connection,
    event_type: str,
    profile_id: str | None,
    session_id: str | None,
    attributes: Mapping[str, Any],
    now: datetime,
) -> int:
    cursor = conn.execute(
        "INSERT INTO events (type, profile_id, session_id, attributes, created) "
        "VALUES (?, ?, ?, ?, ?)",
        (event_type, profile_id, session_id, dumps(dict(attributes)), iso(now)),
    )
    return int(cursor.lastrowid or 0)


def insert_discount(
    conn: Connection,
    effect: Effect,
    session_id: str,
    profile_id: str | None,
    now: datetime,
) -> None:
    props = effect.props
    conn.execute(
        "INSERT INTO discounts (session_id, profile_id, campaign_id, rule_index, rule_name, name, "
        "value, scope, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            profile_id,
            effect.campaign_id,
            effect.rule_index,
            effect.rule_name,
            props["name"],
            props["value"],
            props.get("scope", "sessionTotal"),
            iso(now),
        ),
    )


def session_discounts(conn: Connection, session_id: str) -> list[Discount]:
    """The discounts a session booked that still stand."""
    rows = conn.execute(
        "SELECT id, session_id, profile_id, campaign_id, rule_index, rule_name, name, value, "
        "scope FROM discounts WHERE session_id = ? AND rolled_back IS NULL ORDER BY id",
        (session_id,),
    )
    return [Discount(*row) for row in rows]


def returned(conn: Connection, session_id: str) -> dict[int, int]:
    """Per cart item position, how many of it were returned."""
    rows = conn.execute(
        "SELECT position, sum(quantity) FROM returns WHERE session_id = ? GROUP BY position",
        (session_id,),
    )
    return {position: quantity for position, quantity in rows}


def session_returns(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """A session's returns, oldest first: {id, created, returnedCartItems, eventId}."""
    returns: dict[int, dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT event_id, position, quantity, created FROM returns WHERE session_id = ? "
        "ORDER BY id",
        (session_id,),
    )
    for event_id, position, quantity, created in rows:
        entry = returns.setdefault(
            event_id,
            {"id": event_id, "created": created, "returnedCartItems": [], "eventId": event_id},
        )
        entry["returnedCartItems"].append({"position": position, "quantity": quantity})
    return list(returns.values())


def forget_returns(conn: Connection, session_id: str) -> None:
    conn.execute("DELETE FROM returns WHERE session_id = ?", (session_id,))


def insert_returns(
    conn: Connection,
    event_id: int,
    session_id: str,
    items: Iterable[tuple[int, int]],
    now: datetime,
) -> None:
    conn.executemany(
        "INSERT INTO returns (event_id, session_id, position, quantity, created) "
        "VALUES (?, ?, ?, ?, ?)",
        [(event_id, session_id, position, quantity, iso(now)) for position, quantity in items],
    )


def reduce_discount(conn: Connection, discount: Discount, keep: float, now: datetime) -> None:
    """Roll a booked discount back and, when some of it stays, book what stays anew."""
    roll_back_discount(conn, discount.id, now)
    if keep > 0:
        conn.execute(
            "INSERT INTO discounts (session_id, profile_id, campaign_id, rule_index, rule_name, "
            "name, value, scope, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                discount.session_id,
                discount.profile_id,
                discount.campaign_id,
                discount.rule_index,
                discount.rule_name,
                discount.name,
                keep,
                discount.scope,
                iso(now),
            ),
        )


def roll_back_discount(conn: Connection, discount_id: int, now: datetime) -> None:
    conn.execute("UPDATE discounts SET rolled_back = ? WHERE id = ?", (iso(now), discount_id))


def set_attribute(
    conn: Connection, owner: str, owner_id: str, name: str, value: Any, now: datetime
) -> None:
    """Set one attribute of a profile or a session, keeping the others."""
    # owner is refcamp's own constant, never user data; the name can be anything, so the JSON is
    # changed here rather than with a JSON path.
    table = {"profile": "profiles", "session": "sessions"}[owner]
    row = conn.execute(f"SELECT attributes FROM {table} WHERE id = ?", (owner_id,)).fetchone()
    if row is None:
        return
    attributes = {**json.loads(row[0]), name: value}
    conn.execute(
        f"UPDATE {table} SET attributes = ?, updated = ? WHERE id = ?",
        (dumps(attributes), iso(now), owner_id),
    )


# --- replays -------------------------------------------------------------------------------------


def replay_progress(conn: Connection, fingerprint: str) -> int:
    row = conn.execute("SELECT lines FROM replays WHERE fingerprint = ?", (fingerprint,)).fetchone()
    return row[0] if row else 0


def replay_logs(conn: Connection, identity: str) -> list[tuple[str, str, int, str, str]]:
    """The progress of every log known by `identity`, fewest lines first: rows whose fingerprint
    is "IDENTITY:DIGEST" (the digest of the lines done), with the lines among them that failed
    (ranges: "3-5,9")."""
    rows = conn.execute(
        "SELECT fingerprint, source, lines, updated, failed FROM replays "
        "WHERE fingerprint > ? AND fingerprint < ? ORDER BY lines",
        (identity + ":", identity + ";"),  # ";" follows ":" in ASCII: every IDENTITY:... row
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def replay_logs_from(conn: Connection, source: str) -> list[tuple[str, str, int, str, str]]:
    """The logs replayed from the file `source` that had failed lines, fewest lines first."""
    rows = conn.execute(
        "SELECT fingerprint, source, lines, updated, failed FROM replays "
        "WHERE source = ? AND failed != '' ORDER BY lines",
        (source,),
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def save_replay_progress(
    conn: Connection,
    fingerprint: str,
    source: str,
    lines: int,
    updated: str | None,
    replaces: str | None = None,
    failed: str = "",
) -> None:
    """Record a replay's progress under `fingerprint`, in place of the row `replaces`, with its
    failed lines (ranges: "3-5,9")."""
    if replaces is not None and replaces != fingerprint:
        conn.execute("DELETE FROM replays WHERE fingerprint = ?", (replaces,))
    conn.execute(
        "INSERT INTO replays (fingerprint, source, lines, updated, failed) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (fingerprint) DO UPDATE SET lines = excluded.lines, "
        "source = excluded.source, updated = excluded.updated, failed = excluded.failed",
        (fingerprint, source, lines, updated, failed),
    )


# --- statistics ----------------------------------------------------------------------------------


def count_rejection(
    conn: Connection, campaign_id: str, kind: str, reason: str, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO rejections (campaign_id, kind, reason, day, count) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (campaign_id, kind, reason, day) DO UPDATE SET count = rejections.count + 1",
        (campaign_id, kind, reason, now.date().isoformat()),
    )


def campaign_figures(conn: Connection, campaign_id: str) -> CampaignFigures:
    """Raw counts behind `refcamp campaign stats`, straight from the tables."""

    def one(sql: str, *args: Any) -> Any:
        return conn.execute(sql, (campaign_id, *args)).fetchone()[0]

    by_day = conn.execute(
        "SELECT substr(created, 1, 10) AS day, sum(amount) FROM ledger WHERE campaign_id = ? "
        "AND type = 'addition' AND reverses IS NULL GROUP BY day ORDER BY day",
        (campaign_id,),
    ).fetchall()
    return CampaignFigures(
        referral_codes=one("SELECT count(*) FROM referrals WHERE campaign_id = ?"),
        coupons=one("SELECT count(*) FROM coupons WHERE campaign_id = ?"),
        referrals=_code_figures(conn, campaign_id, "referral"),
        coupon_redemptions=_code_figures(conn, campaign_id, "coupon"),
        points=_point_figures(conn, campaign_id),
        discount_given=round(
            one("SELECT coalesce(sum(value), 0) FROM discounts WHERE campaign_id = ?"), 2
        ),
        discount_rolled_back=round(
            one(
                "SELECT coalesce(sum(value), 0) FROM discounts WHERE campaign_id = ? "
                "AND rolled_back IS NOT NULL"
            ),
            2,
        ),
        acquired_customers=one(
            "SELECT count(DISTINCT profile_id) FROM redemptions WHERE campaign_id = ? "
            "AND kind = 'referral' AND rolled_back IS NULL"
        ),
        points_by_day=[(day, total) for day, total in by_day],
    )


def _code_figures(conn: Connection, campaign_id: str, kind: str) -> CodeFigures:
    accepted, rolled_back = conn.execute(
        "SELECT count(*), count(rolled_back) FROM redemptions WHERE campaign_id = ? AND kind = ?",
        (campaign_id, kind),
    ).fetchone()
    rejected = conn.execute(
        "SELECT reason, sum(count) FROM rejections WHERE campaign_id = ? AND kind = ? "
        "GROUP BY reason ORDER BY reason",
        (campaign_id, kind),
    )
    return CodeFigures(accepted, rolled_back, dict(rejected.fetchall()))


def _point_figures(conn: Connection, campaign_id: str) -> dict[str, PointFigures]:
    points = {}
    for program, issued, rolled_back, deducted, refunded in conn.execute(
        "SELECT program_id, "
        "sum(CASE WHEN type = 'addition' AND reverses IS NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'subtraction' AND reverses IS NOT NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'subtraction' AND reverses IS NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'addition' AND reverses IS NOT NULL THEN amount ELSE 0 END) "
        "FROM ledger WHERE campaign_id = ? GROUP BY program_id ORDER BY program_id",
        (campaign_id,),
    ):
        spent = deducted - refunded
        points[program] = PointFigures(issued, rolled_back, spent, issued - rolled_back - spent)
    return points


def same_but_case(conn: Connection, table: str, key: str, value: str) -> str | None:
    """The stored id or code that is `value` in upper or lower case, if there is one (what a
    lookup typed in the wrong case most likely meant). Two lookups by key, never a scan: a door
    may answer many requests for things that do not exist."""
    assert table in {"profiles", "sessions", "referrals", "coupons"} and key in {"id", "code"}
    for candidate in dict.fromkeys((value.upper(), value.lower())):
        if candidate != value and exists(conn, table, key, candidate):
            return candidate
    return None


# --- the request log ------------------------------------------------------------------------------


def log_requests(conn: Connection, entries: Iterable[LoggedRequest], keep: int) -> None:
    """Append requests to the log, then drop all but the newest `keep` (ids only grow, and only
    the oldest are dropped, so the newest `keep` are the last `keep` ids: a range delete)."""
    rows = [
        (
            e.door,
            iso(e.time),
            e.method,
            e.path,
            e.status,
            e.profile_id,
            e.session_id,
            _effects(e.effects),
            None if e.explanation is None else dumps(dict(e.explanation)),
            e.message,
        )
        for e in entries
    ]
    if not rows:
        return
    conn.executemany(
        "INSERT INTO requests (door, time, method, path, status, profile_id, session_id, "
        "effects, explanation, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("DELETE FROM requests WHERE id <= (SELECT max(id) FROM requests) - ?", (keep,))


def forget_requests(conn: Connection) -> None:
    """Drop every logged request (a log turned off)."""
    conn.execute("DELETE FROM requests")


def request_texts(
    conn: Connection,
) -> Iterator[tuple[int, str, str | None, str | None, tuple[str, ...]]]:
    """Every logged request as stored: (id, path, profile id, session id, (effects, explanation,
    message) as text), for an erasure to find those that name a customer."""
    rows = conn.execute(
        "SELECT id, path, profile_id, session_id, effects, explanation, message FROM requests"
    )
    for number, path, profile_id, session_id, *texts in rows.fetchall():
        yield number, path, profile_id, session_id, tuple(t for t in texts if t)


def drop_requests(conn: Connection, numbers: Sequence[int]) -> None:
    conn.executemany("DELETE FROM requests WHERE id = ?", [(n,) for n in numbers])


def customer_keys(conn: Connection, profile_id: str) -> tuple[list[str], list[str]]:
    """The ids of a customer's sessions, and the referral codes and coupons they hold."""
    sessions = conn.execute("SELECT id FROM sessions WHERE profile_id = ?", (profile_id,))
    codes = conn.execute(
        "SELECT code FROM referrals WHERE advocate_id = ?1 "
        "UNION SELECT code FROM coupons WHERE recipient_id = ?1",
        (profile_id,),
    )
    return [row[0] for row in sessions.fetchall()], [row[0] for row in codes.fetchall()]


def logged_requests(
    conn: Connection, after: int = 0, before: int | None = None, limit: int = 50
) -> list[LoggedRequest]:
    """The newest logged requests first: those after id `after` and before id `before`."""
    rows = conn.execute(
        "SELECT * FROM requests WHERE id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR id < ?2) "
        "ORDER BY id DESC "
        "LIMIT ?3",
        (after, before, limit),
    )
    return [_logged(row) for row in rows]


def logged_request(conn: Connection, number: int) -> LoggedRequest | None:
    row = conn.execute("SELECT * FROM requests WHERE id = ?", (number,)).fetchone()
    return _logged(row) if row else None


@loader("logged request", "id")
def _logged(row: sqlite3.Row) -> LoggedRequest:
    explanation = row["explanation"]
    return LoggedRequest(
        door=row["door"],
        time=_time(row["time"]),
        method=row["method"],
        path=row["path"],
        status=row["status"],
        profile_id=row["profile_id"],
        session_id=row["session_id"],
        effects=tuple(_effects_of(row["effects"])),
        explanation=None if explanation is None else _object(explanation),
        message=row["message"],
        id=row["id"],
    )
