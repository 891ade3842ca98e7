"""Random request sequences through the CLI, checked against a model after every step.

A hypothesis state machine registers advocates, creates referral codes with random usage limits,
opens, closes, re-closes and cancels sessions with known, unknown or no codes, and adds and deducts
points by hand, each request at a later simulated time (--now). After every step:

- `db check --json` reports the state file sound;
- every code's usageCounter is what the model counted (accepted minus rolled-back redemptions)
  and never above its usage limit;
- every profile's sample-wallet currentBalance is the model's sum of booked and manual additions
  minus rollbacks and deductions (the sample wallet has no pending time and no expiry);
- exactly the profiles the model expects exist.

Each request's outcome (exit code, effects, rejection reason) is predicted by the model from the
seed campaign's rules: a friend brings an advocate's code, the advocate gets 100 points and the
friend 50, a code is refused once used `usageLimit` times, and a friend is rewarded once per
campaign (the campaign's redeemReferral limit per profile) unless that redemption was rolled back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer.main
import typer.testing
from conftest import examples, program_of, talon_id
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from typer.testing import CliRunner

from refcamp.cli import app
from refcamp.paths import SAMPLES

CAMPAIGN = "medium-referral"
PROGRAM = "sample-wallet"
POOL = ["P0", "P1", "P2", "P3", "P4"]  # advocates and friends alike
UNKNOWN = "NO-SUCH-CODE"
START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

profiles = st.sampled_from(POOL)
# A code choice: an index into the codes that exist (modulo; most often), -1 for UNKNOWN, -2 for
# no code. Shrinking goes towards 0: an existing code.
code_choices = st.integers(-2, 30)
# The simulated clock moves forward by 0 s to 3 days before each request.
ticks = st.integers(0, 3 * 86_400)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Code:
    advocate: str
    limit: int
    counter: int = 0


@dataclass
class Sess:
    profile: str
    code: str | None
    state: str  # open, closed, cancelled
    booked: list[tuple[str, int]] = field(default_factory=list)  # (recipient, points)
    redeemed: str | None = None  # the code whose use this session booked, not rolled back


class Outcome:
    def __init__(self, raw: Any, args: list[str]) -> None:
        self.args = args
        self.exit_code: int = raw.exit_code
        self.stdout: str = raw.stdout
        self.stderr: str = raw.stderr

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def types(self) -> list[str]:
        return [e["effectType"] for e in self.json["effects"]]

    def __repr__(self) -> str:
        return (
            f"<{self.args} exit {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"
        )


class ReferralMachine(RuleBasedStateMachine):
    # Where each example's fresh state lives (the test sets it: a new file, or a new schema of
    # the PostgreSQL server).
    place: Callable[[], str] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="refcamp-invariants-"))
        self.env = {
            "REFCAMP_DB": self.place() if self.place else str(self.dir / "state.db"),
            "REFCAMP_CAMPAIGNS": str(SAMPLES),
            "REFCAMP_NOW": None,
            "REFCAMP_SEED": None,
            "REFCAMP_DEBUG": None,
        }
        self.runner = CliRunner()
        self.now = START
        self.sequence = 0
        self.profiles: set[str] = set()
        self.codes: dict[str, Code] = {}
        self.sessions: dict[str, Sess] = {}
        self.balance: defaultdict[str, int] = defaultdict(int)
        self.rewarded: Counter[str] = Counter()  # friend -> live redemptions in the campaign
        result = self.cli("campaign", "activate", CAMPAIGN)
        assert result.exit_code == 0, result
        self.program_id = talon_id(self.cli, "program", PROGRAM)  # Talon.One's integer id

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- plumbing ------------------------------------------------------------------------------

    def cli(self, *args: str) -> Outcome:
        argv = ["--now", iso(self.now), *args]
        raw = self.runner.invoke(app, argv, env=self.env)
        outcome = Outcome(raw, argv)
        if raw.exception is not None and not isinstance(raw.exception, SystemExit):
            raise AssertionError(f"{outcome!r}") from raw.exception
        assert outcome.exit_code in (0, 1, 2), outcome
        assert "Traceback" not in outcome.stdout + outcome.stderr, outcome
        assert "internal error" not in outcome.stderr, outcome
        return outcome

    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    def new_session_id(self) -> str:
        self.sequence += 1
        return f"S{self.sequence}"

    def pick_code(self, choice: int) -> str | None:
        if choice == -2:
            return None
        known = sorted(self.codes)
        if choice == -1 or not known:
            return UNKNOWN
        return known[choice % len(known)]

    def verdict(self, friend: str, code: str | None) -> str | None:
        """None: no code; "accept"; or the rejection reason the engine must give."""
        if code is None:
            return None
        referral = self.codes.get(code)
        if referral is None:
            return "ReferralNotFound"
        if friend == referral.advocate:
            return "ReferralRecipientIdSameAsAdvocate"
        if referral.limit and referral.counter >= referral.limit:
            return "ReferralLimitReached"
        if self.rewarded[friend] >= 1:
            return "ProfileLimitReached"
        return "accept"

    def closing(self, sid: str, session: Sess, outcome: Outcome) -> None:
        """Check a response that closed `session` for the first time and book it in the model."""
        assert outcome.exit_code == 0, outcome
        data = outcome.json
        assert data["customerSession"]["state"] == "closed", outcome
        expected = self.verdict(session.profile, session.code)
        effects = data["effects"]
        if expected is None:
            assert effects == [], outcome
        elif expected == "accept":
            assert outcome.types() == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"], (
                outcome
            )
            code = self.codes[session.code]  # type: ignore[index]
            points = [
                (e["props"]["recipientIntegrationId"], e["props"]["value"], e["props"]["programId"])
                for e in effects[1:]
            ]
            program = self.program_id
            assert points == [(code.advocate, 100, program), (session.profile, 50, program)]
            assert effects[0]["props"]["value"] == session.code
            code.counter += 1
            self.rewarded[session.profile] += 1
            self.balance[code.advocate] += 100
            self.balance[session.profile] += 50
            session.booked = [(code.advocate, 100), (session.profile, 50)]
            session.redeemed = session.code
        else:
            assert outcome.types() == ["rejectReferral"], outcome
            assert effects[0]["props"]["rejectionReason"] == expected, outcome
            assert effects[0]["props"]["value"] == session.code
        session.state = "closed"
        self.sessions[sid] = session

    # --- rules ---------------------------------------------------------------------------------

    @initialize(profile=profiles, limit=st.integers(0, 3))
    def first_code(self, profile: str, limit: int) -> None:
        """Start with one code, so that most sessions have a real code to bring."""
        self.create_code(profile, limit, 0)

    @rule(profile=profiles, dt=ticks)
    def register(self, profile: str, dt: int) -> None:
        self.tick(dt)
        outcome = self.cli("profile", "update", profile, "--json")
        assert outcome.exit_code == 0, outcome
        if profile in self.profiles:  # talon_profile_updated: no new code
            assert outcome.types() == [], outcome
        else:
            assert outcome.types() == ["referralCreated"], outcome
            code = outcome.json["effects"][0]["props"]["value"]
            assert code not in self.codes
            self.codes[code] = Code(profile, 0)
        self.profiles.add(profile)

    @rule(profile=profiles, limit=st.integers(0, 3), dt=ticks)
    def create_code(self, profile: str, limit: int, dt: int) -> None:
        self.tick(dt)
        outcome = self.cli(
            "referral", "create", "--campaign", CAMPAIGN, "--advocate", profile,
            "--usage-limit", str(limit), "--json",
        )  # fmt: skip
        assert outcome.exit_code == 0, outcome
        data = outcome.json
        assert data["usageLimit"] == limit and data["usageCounter"] == 0, outcome
        assert data["advocateProfileIntegrationId"] == profile
        assert data["code"] not in self.codes
        self.codes[data["code"]] = Code(profile, limit)
        self.profiles.add(profile)

    @rule(friend=profiles, choice=code_choices, dt=ticks)
    def close_new_session(self, friend: str, choice: int, dt: int) -> None:
        self.tick(dt)
        sid, code = self.new_session_id(), self.pick_code(choice)
        extra = ["--referral", code] if code else []
        outcome = self.cli("session", "close", sid, "--profile", friend, *extra, "--json")
        self.profiles.add(friend)
        self.closing(sid, Sess(friend, code, "open"), outcome)

    @rule(friend=profiles, choice=code_choices, dt=ticks)
    def open_session(self, friend: str, choice: int, dt: int) -> None:
        self.tick(dt)
        sid, code = self.new_session_id(), self.pick_code(choice)
        extra = ["--referral", code] if code else []
        outcome = self.cli("session", "update", sid, "--profile", friend, *extra, "--json")
        assert outcome.exit_code == 0, outcome
        assert outcome.json["customerSession"]["state"] == "open"
        # An open session books nothing: no code use is accepted, no point is booked.
        assert "acceptReferral" not in outcome.types(), outcome
        self.profiles.add(friend)
        self.sessions[sid] = Sess(friend, code, "open")

    @precondition(lambda self: self.sessions)
    @rule(
        index=st.integers(0, 200),
        choice=code_choices,
        friend=st.one_of(st.none(), profiles),
        dt=ticks,
    )
    def close_existing_session(self, index: int, choice: int, friend: str | None, dt: int) -> None:
        """Close a known session again, sometimes naming a (new) code or customer."""
        self.tick(dt)
        sid = sorted(self.sessions)[index % len(self.sessions)]
        session = self.sessions[sid]
        code = self.pick_code(choice)
        extra = ["--referral", code] if code else []
        extra += ["--profile", friend] if friend else []
        outcome = self.cli("session", "close", sid, *extra, "--json")
        if session.state == "cancelled":
            assert outcome.exit_code == 1, outcome
            assert "cancelled" in outcome.stderr, outcome
        elif session.state == "closed":  # answered from the stored session: nothing changes
            assert outcome.exit_code == 0, outcome
            assert outcome.types() == [], outcome
            assert "already closed" in outcome.stderr, outcome
            assert outcome.json["customerSession"]["profileId"] == session.profile
        else:
            if code:
                session.code = code
            if friend:
                session.profile = friend
                self.profiles.add(friend)
            self.closing(sid, session, outcome)

    @rule(index=st.integers(-1, 200), dt=ticks)
    def cancel_session(self, index: int, dt: int) -> None:
        """Cancel a known session (open, closed or cancelled), or with -1 an unknown one."""
        self.tick(dt)
        if index == -1 or not self.sessions:
            outcome = self.cli("session", "cancel", "NO-SUCH-SESSION", "--json")
            assert outcome.exit_code == 1, outcome
            assert outcome.stdout == "", outcome
            return
        sid = sorted(self.sessions)[index % len(self.sessions)]
        session = self.sessions[sid]
        outcome = self.cli("session", "cancel", sid, "--json")
        assert outcome.exit_code == 0, outcome
        assert outcome.json["customerSession"]["state"] == "cancelled", outcome
        if session.state != "closed":
            # Nothing was booked, so nothing is rolled back, and a cancelled session's code gets
            # no verdict.
            assert outcome.types() == [], outcome
            session.state = "cancelled"
            return
        expected = [
            ("rollbackAddedLoyaltyPoints", recipient, points)
            for recipient, points in session.booked
        ]
        if session.redeemed:
            expected.append(("rollbackReferral", None, None))
        seen = [
            (
                e["effectType"],
                e["props"].get("recipientIntegrationId"),
                e["props"]["value"] if e["effectType"] != "rollbackReferral" else None,
            )
            for e in outcome.json["effects"]
        ]
        assert seen == expected, outcome
        for recipient, points in session.booked:
            self.balance[recipient] -= points
        if session.redeemed:
            assert outcome.json["effects"][-1]["props"]["value"] == session.redeemed
            self.codes[session.redeemed].counter -= 1
            self.rewarded[session.profile] -= 1
        session.booked, session.redeemed, session.state = [], None, "cancelled"

    @rule(profile=profiles, points=st.integers(1, 200), dt=ticks)
    def add_points(self, profile: str, points: int, dt: int) -> None:
        self.tick(dt)
        outcome = self.cli(
            "loyalty", "add", profile, "--program", PROGRAM, "--points", str(points),
            "--reason", "manual", "--json",
        )  # fmt: skip
        assert outcome.exit_code == 0, outcome
        self.profiles.add(profile)
        self.balance[profile] += points
        assert outcome.json["balance"]["activePoints"] == self.balance[profile], outcome

    @rule(profile=profiles, points=st.integers(1, 150), dt=ticks)
    def deduct_points(self, profile: str, points: int, dt: int) -> None:
        self.tick(dt)
        outcome = self.cli(
            "loyalty", "deduct", profile, "--program", PROGRAM, "--points", str(points),
            "--reason", "manual", "--json",
        )  # fmt: skip
        if profile not in self.profiles or points > self.balance[profile]:
            # Refused, and nothing changes (the invariants below check that).
            assert outcome.exit_code == 1, outcome
            assert outcome.stdout == "", outcome
            return
        assert outcome.exit_code == 0, outcome
        self.balance[profile] -= points
        assert outcome.json["balance"]["activePoints"] == self.balance[profile], outcome

    # --- after every step ----------------------------------------------------------------------

    @invariant()
    def state_file_is_sound(self) -> None:
        outcome = self.cli("db", "check", "--json")
        assert outcome.exit_code == 0, outcome
        assert outcome.json["ok"] is True and outcome.json["problems"] == [], outcome

    @invariant()
    def code_counters_match_the_model(self) -> None:
        outcome = self.cli("referral", "list", "--json")
        assert outcome.exit_code == 0, outcome
        stored = {r["code"]: (r["usageCounter"], r["usageLimit"]) for r in outcome.json}
        assert stored == {c: (m.counter, m.limit) for c, m in self.codes.items()}
        for counter, limit in stored.values():
            assert counter >= 0
            if limit > 0:
                assert counter <= limit

    @invariant()
    def balances_match_the_model(self) -> None:
        for profile in POOL:
            outcome = self.cli("loyalty", "balance", profile, "--json")
            if profile not in self.profiles:
                assert outcome.exit_code == 1, outcome
                continue
            assert outcome.exit_code == 0, outcome
            wallet = program_of(outcome.json, PROGRAM)["ledger"]
            # A rollback of points already spent leaves a debt (negativePoints), never a balance
            # below zero; later points settle it first.
            shown = max(self.balance[profile], 0)
            assert wallet["currentBalance"] == shown, (profile, outcome)
            assert wallet["pendingBalance"] == 0 and wallet["expiredBalance"] == 0, outcome


@contextmanager
def one_command_object() -> Iterator[None]:
    """Build the click command from the typer app once instead of on every invoke (typer rebuilds
    it each time, which is most of an invocation's cost); the command is the same either way."""
    if not hasattr(typer.testing, "_get_command"):  # a typer without that hook: just slower
        yield
        return
    command = typer.main.get_command(app)
    real = typer.testing._get_command
    with mock.patch.object(
        typer.testing, "_get_command", lambda a: command if a is app else real(a)
    ):
        yield


@pytest.mark.slow
def test_random_request_sequences_keep_the_invariants(
    engine: str, new_state: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ReferralMachine, "place", staticmethod(new_state))
    with one_command_object():
        run_state_machine_as_test(
            ReferralMachine,
            settings=settings(
                # PostgreSQL's leg takes fewer sequences: each statement is a round trip. The
                # counts are the full run's; the default run draws a share (conftest.examples).
                max_examples=examples(25 if engine == "sqlite" else 12),
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                print_blob=True,
            ),
        )
