"""Numbered migrations, applied in order and recorded by name; never edited once shipped.

Each migration and its record run in one transaction. PRAGMA application_id marks a refcamp
database and PRAGMA user_version counts the migrations applied, so a file from a newer refcamp is
recognised without reading any table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refcamp.store.connection import Connection

APPLICATION_ID = 0x52454643  # "REFC"


def run_script(conn: Connection, script: str) -> None:
    """Run statements one by one: executescript() would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:60]}")


def m001_initial(conn: Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'archived')),
            updated TEXT NOT NULL
        );
        CREATE TABLE profiles (
            id TEXT PRIMARY KEY,
            attributes TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            profile_id TEXT REFERENCES profiles (id),
            state TEXT NOT NULL CHECK (state IN ('open', 'closed', 'cancelled')),
            cart_items TEXT NOT NULL DEFAULT '[]',
            coupon_codes TEXT NOT NULL DEFAULT '[]',
            referral_code TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            additional_costs TEXT NOT NULL DEFAULT '{}',
            identifiers TEXT NOT NULL DEFAULT '[]',
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX sessions_profile ON sessions (profile_id);
        CREATE TABLE referrals (
            code TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            advocate_id TEXT NOT NULL REFERENCES profiles (id),
            friend_id TEXT,
            usage_limit INTEGER NOT NULL DEFAULT 0 CHECK (usage_limit >= 0),
            usage_counter INTEGER NOT NULL DEFAULT 0 CHECK (usage_counter >= 0),
            start_date TEXT,
            expiry_date TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            session_id TEXT,
            created TEXT NOT NULL
        );
        CREATE INDEX referrals_advocate ON referrals (advocate_id);
        CREATE INDEX referrals_campaign ON referrals (campaign_id);
        -- Each accepted use of a code; a rollback marks it, so counters can be re-derived.
        CREATE TABLE redemptions (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('referral', 'coupon')),
            code TEXT NOT NULL,
            campaign_id TEXT NOT NULL,
            session_id TEXT NOT NULL REFERENCES sessions (id),
            profile_id TEXT REFERENCES profiles (id),
            rule_index INTEGER NOT NULL DEFAULT 0,
            rule_name TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            rolled_back TEXT
        );
        CREATE INDEX redemptions_code ON redemptions (kind, code);
        CREATE INDEX redemptions_session ON redemptions (session_id);
        CREATE INDEX redemptions_profile ON redemptions (profile_id, campaign_id);
        CREATE INDEX redemptions_campaign ON redemptions (campaign_id);
        -- The loyalty ledger: append-only; a correction is a reversing entry, a balance a sum.
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            transaction_uuid TEXT NOT NULL UNIQUE,
            program_id TEXT NOT NULL,
            profile_id TEXT NOT NULL REFERENCES profiles (id),
            session_id TEXT,
            campaign_id TEXT,
            rule_index INTEGER,
            rule_name TEXT,
            type TEXT NOT NULL CHECK (type IN ('addition', 'subtraction')),
            amount INTEGER NOT NULL CHECK (amount > 0),
            name TEXT NOT NULL,
            start_date TEXT NOT NULL,
            expiry_date TEXT,
            reverses TEXT REFERENCES ledger (transaction_uuid),
            created TEXT NOT NULL
        );
        CREATE INDEX ledger_profile ON ledger (profile_id, program_id);
        CREATE INDEX ledger_session ON ledger (session_id);
        CREATE INDEX ledger_campaign ON ledger (campaign_id, profile_id);
        CREATE INDEX ledger_reverses ON ledger (reverses);
        CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        CREATE TRIGGER ledger_append_only_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        """,
    )


def m002_rule_language(conn: Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE coupons (
            code TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            recipient_id TEXT REFERENCES profiles (id),
            usage_limit INTEGER NOT NULL DEFAULT 1 CHECK (usage_limit >= 0),
            usage_counter INTEGER NOT NULL DEFAULT 0 CHECK (usage_counter >= 0),
            start_date TEXT,
            expiry_date TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            session_id TEXT,
            created TEXT NOT NULL
        );
        CREATE INDEX coupons_campaign ON coupons (campaign_id);
        CREATE INDEX coupons_recipient ON coupons (recipient_id);
        CREATE TABLE audience_members (
            audience TEXT NOT NULL,
            profile_id TEXT NOT NULL REFERENCES profiles (id),
            created TEXT NOT NULL,
            PRIMARY KEY (audience, profile_id)
        );
        CREATE INDEX audience_members_profile ON audience_members (profile_id);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            profile_id TEXT REFERENCES profiles (id),
            session_id TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL
        );
        -- Discounts a closed session booked; a rollback marks them.
        CREATE TABLE discounts (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id),
            profile_id TEXT,
            campaign_id TEXT NOT NULL,
            rule_index INTEGER NOT NULL,
            rule_name TEXT NOT NULL,
            name TEXT NOT NULL,
            value REAL NOT NULL CHECK (value >= 0),
            scope TEXT NOT NULL,
            created TEXT NOT NULL,
            rolled_back TEXT
        );
        CREATE INDEX discounts_session ON discounts (session_id);
        CREATE INDEX discounts_campaign ON discounts (campaign_id, profile_id);
        """,
    )


def m003_replays(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- How far each replayed file got, committed with its requests: a replay that was killed
        -- resumes where it stopped, and a file replayed twice applies nothing the second time.
        CREATE TABLE replays (
            fingerprint TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            lines INTEGER NOT NULL,
            updated TEXT NOT NULL
        );
        """,
    )


def m004_rejections(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- Codes rejected at checkout (a session closing), counted per campaign, reason and day,
        -- so `refcamp campaign stats` can say why redemptions failed.
        CREATE TABLE rejections (
            campaign_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('referral', 'coupon')),
            reason TEXT NOT NULL,
            day TEXT NOT NULL,
            count INTEGER NOT NULL CHECK (count > 0),
            PRIMARY KEY (campaign_id, kind, reason, day)
        );
        """,
    )


def m005_serve(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- The integer ids Talon.One's models give campaigns, rulesets, loyalty programs,
        -- audiences and custom effects (typed SDKs refuse a string there). Set in the TOML
        -- (`talon_id`) or given once, when refcamp first sees the thing, and kept from then on.
        CREATE TABLE talon_ids (
            kind TEXT NOT NULL
                CHECK (kind IN ('campaign', 'ruleset', 'program', 'audience', 'effect')),
            key TEXT NOT NULL,
            number INTEGER NOT NULL CHECK (number > 0),
            PRIMARY KEY (kind, key),
            UNIQUE (kind, number)
        );
        -- The effects of a session's latest evaluation, as getCustomerSession returns them.
        ALTER TABLE sessions ADD COLUMN effects TEXT NOT NULL DEFAULT '[]';
        -- Cart items returned from a closed session; one return (an event) may hold several.
        CREATE TABLE returns (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES events (id),
            session_id TEXT NOT NULL REFERENCES sessions (id),
            position INTEGER NOT NULL CHECK (position >= 0),
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            created TEXT NOT NULL
        );
        CREATE INDEX returns_session ON returns (session_id);
        """,
    )


def m006_ledger_chain(conn: Connection) -> None:
    """Each ledger entry carries a hash of itself and of the entry before it for the same
    customer and program, so `db check` finds an entry edited or deleted by hand."""
    from refcamp.store.queries.ledger_entries import chain_hash

    conn.execute("ALTER TABLE ledger ADD COLUMN chain TEXT NOT NULL DEFAULT ''")
    # The append-only trigger is lifted only for the backfill, inside this migration's transaction.
    conn.execute("DROP TRIGGER ledger_append_only_update")
    heads: dict[tuple[str, str], str] = {}
    for row in conn.execute("SELECT * FROM ledger ORDER BY id").fetchall():
        key = (row["profile_id"], row["program_id"])
        heads[key] = chain_hash(heads.get(key, ""), row)
        conn.execute("UPDATE ledger SET chain = ? WHERE id = ?", (heads[key], row["id"]))
    run_script(
        conn,
        """
        CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        """,
    )


def m007_replay_failures(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- The lines of a replayed log that failed, as ranges ("3-5,9"; '' for none): a rerun
        -- retries exactly those, even after they were fixed in the file.
        ALTER TABLE replays ADD COLUMN failed TEXT NOT NULL DEFAULT '';
        """,
    )


def m008_request_log(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- The newest requests, from every door (http, cli, replay), for the console: what came
        -- in, what it did and why. Bounded: only the newest N rows stay, whichever door they came
        -- through.
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            door TEXT NOT NULL CHECK (door IN ('http', 'cli', 'replay')),
            time TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            status INTEGER NOT NULL,
            profile_id TEXT,
            session_id TEXT,
            effects TEXT NOT NULL DEFAULT '[]',
            explanation TEXT,
            message TEXT
        );
        """,
    )


def m009_reversals_index(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- Only a reversal has `reverses`; the index of it need not hold every entry's NULL (an
        -- index write saved on each entry booked). `reverses = ?` and the foreign key's lookups
        -- imply NOT NULL, so SQLite and PostgreSQL both still use it.
        DROP INDEX ledger_reverses;
        CREATE INDEX ledger_reverses ON ledger (reverses) WHERE reverses IS NOT NULL;
        """,
    )


def m010_per_item_effects(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- Per-item effects (Talon.One's cartItemPosition/cartItemSubPosition on points, and
        -- position/subPosition on setDiscountPerItem): a return rolls back what the returned
        -- units earned, and only that. NULL: the effect is the session's, not an item's.
        ALTER TABLE ledger ADD COLUMN item_position INTEGER;
        ALTER TABLE ledger ADD COLUMN item_sub_position INTEGER;
        ALTER TABLE discounts ADD COLUMN item_position INTEGER;
        ALTER TABLE discounts ADD COLUMN item_sub_position INTEGER;
        """,
    )


def m011_soft_reservations(conn: Connection) -> None:
    run_script(
        conn,
        """
        -- Soft reservations (createCouponReservation, the reserve_coupon effect): a coupon may be
        -- reserved for many customers and any customer may still redeem it. A hard reservation
        -- stays the coupon's recipient_id. Reservations made before this migration set
        -- recipient_id and stay hard: nothing told them apart from a coupon made for a recipient.
        CREATE TABLE coupon_reservations (
            code TEXT NOT NULL REFERENCES coupons (code),
            profile_id TEXT NOT NULL REFERENCES profiles (id),
            created TEXT NOT NULL,
            PRIMARY KEY (code, profile_id)
        );
        CREATE INDEX coupon_reservations_profile ON coupon_reservations (profile_id);
        """,
    )


MIGRATIONS: list[Callable[[Connection], None]] = [
    m001_initial,
    m002_rule_language,
    m003_replays,
    m004_rejections,
    m005_serve,
    m006_ledger_chain,
    m007_replay_failures,
    m008_request_log,
    m009_reversals_index,
    m010_per_item_effects,
    m011_soft_reservations,
]
