"""Where a command's state lives: the state file's connection, the campaign catalog, the clock,
and what a long-running door keeps between requests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from refcamp import catalog_cache, clock, codes, paths
from refcamp.engine.conditions import AudienceCondition, LoyaltyBalanceCondition
from refcamp.engine.effects import CustomEffect
from refcamp.errors import CampaignFileError, InputError, NotFoundError
from refcamp.models import Catalog, TalonIds
from refcamp.settings import Settings
from refcamp.store import db, queries
from refcamp.store.db import connect, transaction

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


@dataclass
class Workspace:
    """Where a command's state lives; the database and the campaigns are opened on first use.

    A long-running door (replay, the HTTP server) keeps one workspace for many requests: what it
    has read is cached in the fields below, each filled in one method and forgotten in another."""

    settings: Settings = field(default_factory=Settings)
    # How a warning reaches people (the CLI gives its stderr writer); without it, warnings are
    # only kept in `warnings`.
    warn: Callable[[str], None] | None = field(default=None, repr=False)
    # Called with the workspace after each new connection (a server sets its connection up).
    on_connect: Callable[[Workspace], None] | None = field(default=None, repr=False)

    warnings: list[str] = field(default_factory=list, init=False, repr=False)
    # Profiles the current request created without a registration (ensure_profile), so a command
    # can say so: a mistyped id makes a customer.
    new_customers: list[str] = field(default_factory=list, init=False, repr=False)
    # A command that only reads the state file: a campaign directory that does not validate only
    # warns, and `broken_catalog` says it was replaced by an empty one.
    reading: bool = field(default=False, init=False, repr=False)
    broken_catalog: bool = field(default=False, init=False, repr=False)

    _now: datetime | None = field(default=None, init=False, repr=False)
    _codes: codes.Codes | None = field(default=None, init=False, repr=False)
    _fixed_now: datetime | bool | None = field(default=False, init=False, repr=False)
    _conn: Connection | None = field(default=None, init=False, repr=False)
    _catalog: Catalog | None = field(default=None, init=False, repr=False)
    _audiences: bool | None = field(default=None, init=False, repr=False)
    _points: bool | None = field(default=None, init=False, repr=False)
    _states: dict[str, str] | None = field(default=None, init=False, repr=False)
    _talon_ids: TalonIds | None = field(default=None, init=False, repr=False)
    _seen: bool = field(default=False, init=False, repr=False)  # campaigns recorded in the file
    _recheck: bool = field(default=False, init=False, repr=False)
    _data_version: int | None = field(default=None, init=False, repr=False)

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = clock.now(self.settings.now, self.settings.now_name)
        return self._now

    @property
    def codes(self) -> codes.Codes:
        """Where this workspace's codes come from (seeded when the settings say so)."""
        if self._codes is None:
            self._codes = codes.Codes(self.settings.seed)
        return self._codes

    @codes.setter
    def codes(self, source: codes.Codes) -> None:
        self._codes = source

    @cached_property
    def db_path(self) -> paths.Location:
        """The state file, or the PostgreSQL database (paths.DatabaseUrl) holding the state."""
        return paths.db_path(self.settings.db)

    @property
    def on_server(self) -> bool:
        """Whether the state lives in a database server (PostgreSQL), not in a file."""
        return isinstance(self.db_path, paths.DatabaseUrl)

    @cached_property
    def campaigns_dir(self) -> Path:
        return paths.campaigns_dir(self.settings.campaigns)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._load_catalog()
        return self._catalog

    def _load_catalog(self) -> Catalog:
        try:
            return catalog_cache.load(self.campaigns_dir, self.settings.cache)
        except CampaignFileError as error:
            if not self.reading:
                raise  # a request never runs on a campaign directory that does not validate
            # A command that only reads the state file still works: one broken file must not
            # hide balances and codes. It says so, once, and shows no campaign.
            count = len(error.problems)
            self.warning(
                f"warning: campaign directory {self.campaigns_dir} does not validate "
                f"({count} problem{'s' if count != 1 else ''}; refcamp campaign validate "
                f"lists them): showing the state file without campaigns"
            )
            self.broken_catalog = True
            return Catalog(str(self.campaigns_dir), (), {})

    def warning(self, text: str) -> None:
        """Say a warning to people (through the door's `warn`), and keep it."""
        self.warnings.append(text)
        if self.warn is not None:
            self.warn(text)

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = connect(self.db_path, make_folder=not self.settings.db_given)
            if self.on_connect is not None:
                self.on_connect(self)
        return self._conn

    @property
    def stored(self) -> Connection:
        """The connection, for a command that only reads: a state file that is not there is a
        mistyped path (or nothing recorded yet), never a reason to create one."""
        if self._conn is None:
            if isinstance(self.db_path, Path) and not os.path.lexists(self.db_path):
                raise NotFoundError(
                    f"no state file at {self.db_path}: nothing is recorded there yet "
                    "(a mistyped --db or REFCAMP_DB?)"
                )
            # The command's first touch of the state file is a read, outside any request: it
            # evaluates no rule, so a campaign directory that does not validate only warns.
            self.reading = True
            _ = self.catalog  # read now, so a broken one is said whatever the command shows
        return self.conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def disconnect(self) -> None:
        """Drop a connection that was lost (a database server that stopped or restarted): the
        next use opens a new one, and what was read through the old one is read again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may refuse to close
                conn.close()
        self.forget_state()

    def request_time(self, moment: datetime | None) -> datetime:
        """The time a request is judged at: the `now` it asked for, else --now or REFCAMP_NOW,
        else the real time (read now, when it arrives)."""
        if moment is not None:
            return moment
        if self._fixed_now is False:  # --now or REFCAMP_NOW, read once
            text = self.settings.now
            self._fixed_now = clock.now(text, self.settings.now_name) if text else None
        fixed = self._fixed_now
        return fixed if isinstance(fixed, datetime) else datetime.now(UTC)

    def at(self, moment: datetime | None) -> None:
        """Set the clock for the next request (replay lines carry their own "now")."""
        self._now = self.request_time(moment)
        # A new request: forget who the last one created, or a replay or server would keep a
        # list of every customer it ever made.
        self.new_customers = []

    def reads_audiences(self) -> bool:
        """Whether any campaign has an audience condition: requests load a customer's audiences
        only then."""
        if self._audiences is None:
            self._audiences = self._has_condition(AudienceCondition)
        return self._audiences

    def reads_points(self) -> bool:
        """Whether any campaign tests a loyalty balance or deducts points: requests load the
        customer's spendable points only then."""
        if self._points is None:
            self._points = self._has_condition(LoyaltyBalanceCondition) or any(
                spec.fallible
                for campaign in self.catalog.campaigns
                for rule in campaign.rules
                for spec in rule.then
            )
        return self._points

    def _has_condition(self, kind: type) -> bool:
        """Whether any rule of the catalog has a condition of this kind, at any depth."""
        return any(
            isinstance(condition, kind)
            for campaign in self.catalog.campaigns
            for rule in campaign.rules
            for top in rule.when
            for condition in top.walk()
        )

    def talon_ids(self) -> TalonIds:
        """The integer ids Talon.One's models use, given once per campaign, ruleset, program and
        custom effect of the catalog (and per audience when it is first joined)."""
        self._changed_elsewhere()
        if self._talon_ids is None:
            wanted = self._numbered()
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
            self._talon_ids = TalonIds(numbers)
        return self._talon_ids

    def _numbered(self) -> list[tuple[str, str, int | None]]:
        """(kind, key, the talon_id the TOML fixes or None) of everything the catalog numbers."""
        wanted: list[tuple[str, str, int | None]] = []
        for c in self.catalog.campaigns:
            wanted += [("campaign", c.id, c.talon_id), ("ruleset", c.ruleset_id, None)]
            wanted += [
                ("effect", e.effect_name, None)
                for r in c.rules
                for e in r.then
                if isinstance(e, CustomEffect)
            ]
        wanted += [("program", p.id, p.talon_id) for p in self.catalog.programs.values()]
        return wanted

    # A door that commits many requests together (replay, simulate) holds one transaction over
    # them, each request a savepoint inside it (store.db.transaction).

    def transaction(self) -> db.Transaction:
        """One transaction (a savepoint inside an open one): store.db.transaction."""
        return transaction(self.conn)

    def begin(self) -> None:
        db.begin(self.conn)

    def try_begin(self) -> bool:
        """Begin at once, or False while another process holds the write lock."""
        return db.try_begin(self.conn)

    def savepoint(self, name: str) -> None:
        db.savepoint(self.conn, name)

    def release(self, name: str) -> None:
        db.release(self.conn, name)

    def undo_to(self, name: str) -> None:
        """Undo what was done since the savepoint `name`, and drop it."""
        db.undo_to(self.conn, name)

    def serve(self, mmap_bytes: int) -> None:
        """Set the connection up for a long-running server (store.db.for_server)."""
        db.for_server(self.conn, mmap_bytes)

    def commit(self) -> None:
        db.commit(self.conn)

    def rollback(self) -> None:
        """Roll back the open transaction, if the database has not already given it up (or the
        connection with it)."""
        if self._conn is not None:
            db.rollback(self._conn)

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction

    def batches(
        self, lines: int = 2000, seconds: float = 0.5
    ) -> AbstractContextManager[Callable[[], bool]]:
        """store.db.batches on this workspace's connection."""
        return db.batches(self.conn, lines, seconds)

    def data_version(self) -> int:
        """Changes whenever another connection commits to the state file."""
        return db.data_version(self.conn)

    def checkpoint(self) -> None:
        """Everything committed into the file itself, none left in the -wal (a file to hand on)."""
        db.checkpoint(self.conn)

    def forget_talon_ids(self) -> None:
        self._talon_ids = None

    def forget_states(self) -> None:
        """A campaign's state changed: read the states again at the next request."""
        self._states = None

    def reread_after_rollback(self) -> None:
        """What this request read (ids, states, campaigns seen) may hold what its dry run rolls
        back: it stays for shaping this response; a long-running door reads it again next time."""
        self._data_version = None
        self._seen = False

    def new_request(self, moment: datetime | None) -> None:
        """The next request of a long-running door (the HTTP server): what this workspace read
        (campaign states, ids) is read again if another process has committed since."""
        self.at(moment)
        self._recheck = True

    def _changed_elsewhere(self) -> None:
        """Once per request, at the first read that needs it (inside the request's transaction):
        drop what was read if another connection committed since (SQLite's data_version)."""
        if not self._recheck:
            return
        self._recheck = False
        version = self.data_version()
        if version != self._data_version:
            self._data_version = version
            self._states = None
            self._talon_ids = None

    def forget_campaigns(self) -> None:
        """The campaign files changed: read them again at the next request."""
        self._catalog = self._audiences = self._points = None
        self.forget_state()

    def forget_state(self) -> None:
        """What was read from the state (campaign states, ids, campaigns recorded) may have been
        rolled back: read it again at the next request."""
        self._states = self._talon_ids = self._data_version = None
        self._seen = False

    def reload_campaigns(self) -> Catalog:
        """Read the campaign files again now and serve them; if they do not validate, raise
        CampaignFileError and keep serving the ones read before (a long-running door)."""
        catalog = catalog_cache.load(self.campaigns_dir, self.settings.cache)
        self.use_catalog(catalog)
        return catalog

    def use_catalog(self, catalog: Catalog) -> None:
        """Serve these campaigns (already validated) from the next request on."""
        self.forget_campaigns()
        self._catalog = catalog

    def campaign_states(self) -> dict[str, str]:
        """Every campaign's current state, read inside the request's transaction: once per
        command, and again in a server only when another process has committed since."""
        self._changed_elsewhere()
        if self._states is None:
            if not self._seen:  # once per catalog (a failed group forgets it)
                queries.see_campaigns(self.conn, self.catalog, self.now)
                self._seen = True
            self._states = queries.campaign_states(self.conn)
        return self._states


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
