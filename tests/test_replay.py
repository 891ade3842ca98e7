"""`refcamp replay`: recorded Integration API traffic (JSON Lines), one request per line.

Every line goes through the same service function as the matching command, is atomic on its own,
and a file replayed twice applies nothing the second time. Outcomes are read back through the CLI.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import check_db, ok, open_state, program_of

Run = Callable[..., Any]  # conftest's `run` fixture

CAMPAIGN = "medium-referral"
WALLET = "sample-wallet"
TIMES = [f"2026-03-0{day}T{hour:02d}:00:00Z" for day in (1, 2, 3) for hour in (9, 12, 15)]

REVIEWS = """
[campaign]
id = "reviews"
name = "Points for reviews"
features = ["loyalty"]

[[loyalty_program]]
id = "review-wallet"
name = "Review wallet"

[[rules]]
name = "Points for a good review"
when = [{ event = "review_posted" }, { attribute = "event.attributes.stars", op = ">=", value = 4 }]
[[rules.then]]
effect = "add_loyalty_points"
program = "review-wallet"
points = 20
reason = "Thanks for the review"
"""


# --- helpers -------------------------------------------------------------------------------------


def profile_line(profile: str, rules: bool = True, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"path": f"/v2/customer_profiles/{profile}", "body": {"attributes": {}}}
    if rules:
        line["query"] = {"runRuleEngine": "true"}
    return {**line, **extra}


def session_line(
    session: str, profile: str, state: str = "closed", **fields: Any
) -> dict[str, Any]:
    body = {"customerSession": {"profileId": profile, "state": state, **fields}}
    return {"path": f"/v2/customer_sessions/{session}", "body": body}


def event_line(profile: str, stars: int = 5, **extra: Any) -> dict[str, Any]:
    body = {"profileId": profile, "type": "review_posted", "attributes": {"stars": stars}}
    return {"path": "/v2/events", "method": "POST", "body": body, **extra}


# What the commands' --json shows of every request, as if its responseContent asked for it; a
# replayed line's response has only what its body's responseContent asks for, as in Talon.One.
SHOWN = ["customerProfile", "customerSession", "event", "ruleFailureReasons"]


def asking(line: dict[str, Any], *parts: str) -> dict[str, Any]:
    """The line, its body asking for `parts` (default: what a command shows) in responseContent."""
    body = {**line.get("body", {}), "responseContent": list(parts or SHOWN)}
    return {**line, "body": body}


def write(path: Path, lines: list[Any]) -> Path:
    """JSON Lines: dicts are dumped, str and bytes written as they are."""
    data = b""
    for line in lines:
        if isinstance(line, bytes):
            data += line
        elif isinstance(line, str):
            data += line.encode()
        else:
            data += json.dumps(line, ensure_ascii=False).encode()
        data += b"\n"
    path.write_bytes(data)
    return path


def read_out(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def register(run: Run, profile: str, *options: str) -> str:
    result = ok(run(*options, "profile", "update", profile, "-q"))
    return result.stdout.strip()


def balance(run: Run, profile: str, program: str = WALLET, *options: str) -> int:
    result = ok(run(*options, "loyalty", "balance", profile, "--json"))
    known = [p for p in result.json["programs"].values() if p["name"] == program]
    return program_of(result.json, program)["ledger"]["currentBalance"] if known else 0


def referral_codes(run: Run, *options: str) -> list[dict[str, Any]]:
    return ok(run(*options, "referral", "list", "--json")).json


def scrub(doc: dict[str, Any]) -> dict[str, Any]:
    """A response without what is random by nature (transaction UUIDs) and without "line"."""
    doc = copy.deepcopy(doc)
    doc.pop("line", None)
    for effect in doc.get("effects", []):
        effect["props"].pop("transactionUUID", None)
    return doc


def snapshot(run: Run, profiles: list[str], programs: tuple[str, ...] = (WALLET,)) -> Any:
    """Balances, ledger sizes and code counters: everything a replay books."""
    state: dict[str, Any] = {}
    for profile in profiles:
        shown = run("loyalty", "balance", profile, "--json")
        if shown.exit_code != 0:
            state[profile] = None
            continue
        ledger = ok(run("loyalty", "ledger", profile, "--json")).json
        assert ledger["hasMore"] is False
        known = {p["name"] for p in shown.json["programs"].values()}
        state[profile] = {
            "balances": {p: program_of(shown.json, p) if p in known else None for p in programs},
            "ledger": len(ledger["data"]),
        }
    state["codes"] = sorted((r["code"], r["usageCounter"]) for r in referral_codes(run))
    return state


def replays_table(where: str) -> list[tuple[str, str, int]]:
    """The replays table of the state at `where` (a file or a postgresql:// URL)."""
    with closing(open_state(where)) as conn:
        rows = conn.execute("SELECT fingerprint, source, lines FROM replays").fetchall()
    return [tuple(row) for row in rows]


# --- the same responses as the commands ----------------------------------------------------------


@pytest.mark.both_engines
@pytest.mark.slow
def test_replayed_file_gives_the_same_responses_as_the_commands(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_state: Callable[[str], str]
) -> None:
    monkeypatch.setenv("REFCAMP_SEED", "7")  # the same codes in both databases
    by_command, by_replay = new_state("commands.db"), new_state("replay.db")
    for db in (by_command, by_replay):
        ok(run("--db", db, "--now", TIMES[0], "campaign", "activate", CAMPAIGN))

    def command(step: int, *args: str) -> dict[str, Any]:
        return ok(run("--db", by_command, "--now", TIMES[step], *args, "--json")).json

    item = "sku=sku-00004,name=ProductC,price=100,quantity=1,category=Accessories"
    cart = [
        {
            "sku": "sku-00004",
            "name": "ProductC",
            "price": 100,
            "quantity": 1,
            "category": "Accessories",
        }
    ]
    expected = [command(0, "profile", "update", "NEWCUSTOMER")]
    code1 = expected[0]["createdReferrals"][0]["code"]
    expected.append(command(1, "profile", "update", "OTHER", "--attr", "tier=gold"))
    code2 = expected[1]["createdReferrals"][0]["code"]
    assert code1 != code2
    expected += [
        command(
            2, "session", "close", "S1", "--profile", "F1", "--referral", code1, "--item", item
        ),
        command(3, "session", "close", "S2", "--profile", "F2", "--referral", code2),
        command(4, "event", "track", "review_posted", "--profile", "F1", "--attr", "stars=5"),
        command(5, "session", "close", "S3", "--profile", "F3", "--referral", code1, "--dry-run"),
        command(6, "session", "update", "S2", "--state", "cancelled"),
        command(7, "session", "close", "S4", "--profile", "F1", "--referral", code2),
        command(8, "profile", "update", "LURKER", "--no-rules"),
    ]
    # each line asks for what the commands show, so that the responses compare in full
    lines = [
        asking(line)
        for line in (
            profile_line("NEWCUSTOMER"),
            {**profile_line("OTHER"), "body": {"attributes": {"tier": "gold"}}},
            session_line("S1", "F1", referralCode=code1, cartItems=cart),
            session_line("S2", "F2", referralCode=code2),
            event_line("F1"),
            {**session_line("S3", "F3", referralCode=code1), "query": {"dry": "true"}},
            {
                "path": "/v2/customer_sessions/S2",
                "body": {"customerSession": {"state": "cancelled"}},
            },
            session_line("S4", "F1", referralCode=code2),
            profile_line("LURKER", rules=False),
        )
    ]
    for step, line in enumerate(lines):
        line["now"] = TIMES[step]
    source = write(tmp_path / "traffic.jsonl", lines)
    out = tmp_path / "out.jsonl"
    ok(run("--db", by_replay, "replay", str(source), "--out", str(out), "--json"))

    replayed = read_out(out)
    assert [r["line"] for r in replayed] == list(range(1, len(lines) + 1))
    # the sequence did what it was meant to, so the comparison is not vacuous
    kinds = [[e["effectType"] for e in r["effects"]] for r in expected]
    assert kinds[0] == ["referralCreated"]
    assert kinds[2] == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert kinds[5] == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert "rollbackAddedLoyaltyPoints" in kinds[6] and "rollbackReferral" in kinds[6]
    assert kinds[7] == ["rejectReferral"]
    assert expected[7]["effects"][0]["props"]["rejectionReason"] == "ProfileLimitReached"
    assert expected[5]["dryRun"] is True
    for step, (want, got) in enumerate(zip(expected, replayed, strict=True)):
        assert scrub(got) == scrub(want), f"line {step + 1}"

    # and both databases end in the same state
    profiles = ["NEWCUSTOMER", "OTHER", "F1", "F2", "F3", "LURKER"]
    assert snapshot(lambda *a: run("--db", by_replay, *a), profiles) == snapshot(
        lambda *a: run("--db", by_command, *a), profiles
    )
    check_db(run, "--db", by_replay)
    check_db(run, "--db", by_command)


def test_profile_lines_run_rules_only_with_run_rule_engine(active: Run, tmp_path: Path) -> None:
    source = write(
        tmp_path / "profiles.jsonl",
        [
            profile_line("QUIET", rules=False),
            {**profile_line("FALSE", rules=False), "query": {"runRuleEngine": "false"}},
            profile_line("LOUD"),
        ],
    )
    out = tmp_path / "out.jsonl"
    summary = ok(active("replay", str(source), "--out", str(out), "--json")).json
    assert summary["requests"] == {"profile": 3}
    assert summary["effects"] == {"referralCreated": 1}
    responses = read_out(out)
    assert responses[0]["effects"] == [] and responses[0]["createdReferrals"] == []
    assert responses[1]["effects"] == [] and responses[1]["createdReferrals"] == []
    assert [e["effectType"] for e in responses[2]["effects"]] == ["referralCreated"]
    advocates = [r["advocateProfileIntegrationId"] for r in referral_codes(active)]
    assert advocates == ["LOUD"]
    for profile in ("QUIET", "FALSE"):
        assert ok(active("profile", "show", profile, "--json")).json["referrals"] == []
    check_db(active)


# --- bad lines -----------------------------------------------------------------------------------


BAD_LINES: list[tuple[Any, str]] = [
    ("{not json", "invalid JSON"),
    ({"path": "/v2/coupons/X", "body": {}}, "/v2/coupons/X"),
    ({**event_line("P9"), "method": "PUT"}, "method"),
    (session_line("S9", "P9", cartItems=[{"sku": "a", "quantity": 1, "price": "abc"}]), "price"),
    ("[1, 2, 3]", "expected an object"),
    (b'{"path": "/v2/customer_profiles/\xff\xfe", "body": {}}', "not UTF-8"),
    ({**profile_line("P9"), "now": "yesterday"}, "now"),
]


def test_bad_lines_are_reported_with_their_number_and_do_not_stop_the_rest(
    active: Run, tmp_path: Path
) -> None:
    last_line = asking(profile_line("LAST"), "customerProfile")
    lines = [profile_line("FIRST"), "", *(bad for bad, _ in BAD_LINES), last_line]
    source = write(tmp_path / "bad.jsonl", lines)
    out = tmp_path / "out.jsonl"
    result = active("replay", str(source), "--out", str(out), "--json")
    assert result.exit_code == 1, result
    summary = result.json
    bad_numbers = list(range(3, 3 + len(BAD_LINES)))
    assert [f["line"] for f in summary["failures"]] == bad_numbers
    for failure, (_, words) in zip(summary["failures"], BAD_LINES, strict=True):
        assert failure["error"].startswith(f"line {failure['line']}"), failure
        assert words in failure["error"], failure
    assert summary["failed"] == len(BAD_LINES)
    assert summary["applied"] == 2
    assert summary["requests"] == {"profile": 2}

    records = read_out(out)
    last = 3 + len(BAD_LINES)
    assert [r["line"] for r in records] == [1, *bad_numbers, last]  # the blank line 2 is skipped
    for record in records[1:-1]:
        assert set(record) == {"line", "error"}
        assert record["error"].startswith(f"line {record['line']}")
    assert records[-1]["customerProfile"]["integrationId"] == "LAST"

    advocates = sorted(r["advocateProfileIntegrationId"] for r in referral_codes(active))
    assert advocates == ["FIRST", "LAST"]
    assert active("profile", "show", "P9").exit_code == 1
    assert active("session", "show", "S9").exit_code == 1
    check_db(active)


BIG = int("1" + "0" * 400)  # a JSON integer too large for a float


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            session_line("S9", "P9", cartItems=[{"sku": "a", "quantity": 1, "price": BIG}]),
            id="huge-integer-price",
        ),
        pytest.param(
            session_line("S9", "P9", cartItems=[{"sku": "a", "quantity": BIG, "price": 1}]),
            id="huge-integer-quantity",
        ),
        pytest.param(
            session_line("S9", "P9", additionalCosts={"shipping": {"price": BIG}}),
            id="huge-integer-additional-cost",
        ),
        pytest.param({"path": "http://[x/v2/customer_profiles/P9"}, id="unparsable-url"),
        pytest.param(
            '{"path": "/v2/customer_profiles/P9", "body": {"attributes": {"a": "\\ud800"}}}',
            id="lone-surrogate-in-attribute",
        ),
        pytest.param(
            '{"path": "/v2/customer_sessions/S9", '
            '"body": {"customerSession": {"profileId": "\\ud800"}}}',
            id="lone-surrogate-in-profile-id",
        ),
    ],
)
def test_a_bad_line_that_trips_a_non_input_error_is_still_just_reported(
    active: Run, tmp_path: Path, bad: Any
) -> None:
    source = write(tmp_path / "bad.jsonl", [profile_line("FIRST"), bad, profile_line("LAST")])
    out = tmp_path / "out.jsonl"
    result = active("replay", str(source), "--out", str(out), "--json")
    assert "internal error" not in result.stderr, result
    assert result.exit_code == 1, result
    assert [f["line"] for f in result.json["failures"]] == [2]
    assert "internal error" not in result.json["failures"][0]["error"]  # the input's fault
    assert result.json["applied"] == 2
    assert [r["line"] for r in read_out(out)] == [1, 2, 3]
    advocates = sorted(r["advocateProfileIntegrationId"] for r in referral_codes(active))
    assert advocates == ["FIRST", "LAST"]
    assert active("profile", "show", "P9").exit_code == 1
    check_db(active)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def test_a_number_too_large_for_a_float_never_yields_invalid_json(
    active: Run, tmp_path: Path
) -> None:
    line = '{"path": "/v2/customer_profiles/P9", "body": {"attributes": {"a": 1e400}}}'
    source = write(tmp_path / "inf.jsonl", [line, profile_line("LAST")])
    out = tmp_path / "out.jsonl"
    result = active("replay", str(source), "--out", str(out), "--json")
    for text in out.read_text().splitlines():
        json.loads(text, parse_constant=_no_constant)
    assert result.exit_code == 1, result
    [failure] = result.json["failures"]
    assert failure["line"] == 1
    assert "1e400 is too large a number" in failure["error"]
    assert active("profile", "show", "P9").exit_code == 1
    check_db(active)


def test_stop_on_error_applies_nothing_after_the_bad_line(active: Run, tmp_path: Path) -> None:
    source = write(
        tmp_path / "stop.jsonl", [profile_line("FIRST"), "{not json", profile_line("AFTER")]
    )
    out = tmp_path / "out.jsonl"
    result = active("replay", str(source), "--out", str(out), "--stop-on-error", "--json")
    assert result.exit_code == 1, result
    assert result.json["applied"] == 1
    assert [f["line"] for f in result.json["failures"]] == [2]
    assert [r["line"] for r in read_out(out)] == [1, 2]
    assert ok(active("profile", "show", "FIRST")).exit_code == 0
    assert active("profile", "show", "AFTER").exit_code == 1
    check_db(active)


@pytest.mark.both_engines
def test_a_line_that_fails_halfway_changes_nothing(active: Run, tmp_path: Path) -> None:
    code = register(active, "ADVOCATE")
    huge = [{"sku": "x", "quantity": 1000, "price": 1e308}]  # the total overflows to infinity
    source = write(
        tmp_path / "halfway.jsonl",
        [
            session_line("S1", "F1", referralCode=code),
            # the customer is created, then the session turns out to belong to someone else
            {**event_line("GHOST"), "body": {**event_line("GHOST")["body"], "sessionId": "S1"}},
            # the customer is created, then the session is missing
            {**event_line("GHOST2"), "body": {**event_line("GHOST2")["body"], "sessionId": "NO"}},
            # the customer is created, then the cart total cannot be computed
            session_line("S2", "GHOST3", referralCode=code, cartItems=huge),
            session_line("S3", "F2", referralCode=code),
        ],
    )
    result = active("replay", str(source), "--json")
    assert result.exit_code == 1, result
    assert [f["line"] for f in result.json["failures"]] == [2, 3, 4]
    assert result.json["applied"] == 2
    for ghost in ("GHOST", "GHOST2", "GHOST3"):
        assert active("profile", "show", ghost).exit_code == 1, ghost
    assert active("session", "show", "S2").exit_code == 1
    assert balance(active, "ADVOCATE") == 200
    assert balance(active, "F1") == 50
    assert balance(active, "F2") == 50
    assert ok(active("referral", "show", code, "--json")).json["usageCounter"] == 2
    check_db(active)


# --- summaries -----------------------------------------------------------------------------------


def test_json_summary_counts_requests_effects_rejections_and_failures(
    active: Run, tmp_path: Path
) -> None:
    code = register(active, "ADVOCATE")
    source = write(
        tmp_path / "summary.jsonl",
        [
            profile_line("NEW1"),
            session_line("S1", "F1", referralCode=code),
            session_line("S2", "F2", referralCode="NOPE-NOPE"),
            session_line("S3", "ADVOCATE", referralCode=code),
            event_line("F1"),
            "oops",
        ],
    )
    result = active("replay", str(source), "--json")
    assert result.exit_code == 1, result
    summary = result.json
    assert summary["requests"] == {"profile": 1, "session": 3, "event": 1}
    assert summary["applied"] == 5
    assert summary["failed"] == 1
    assert summary["skipped"] == 0
    assert summary["effects"] == {
        "referralCreated": 1,
        "acceptReferral": 1,
        "addLoyaltyPoints": 2,
        "rejectReferral": 2,
    }
    assert summary["rejections"] == {
        "ReferralNotFound": 1,
        "ReferralRecipientIdSameAsAdvocate": 1,
    }
    assert len(summary["failures"]) == 1
    assert summary["failures"][0]["line"] == 6
    assert "invalid JSON" in summary["failures"][0]["error"]
    check_db(active)


def test_human_summary_shows_a_table_and_the_failures(active: Run, tmp_path: Path) -> None:
    code = register(active, "ADVOCATE")
    source = write(
        tmp_path / "human.jsonl",
        [
            profile_line("NEW1"),
            session_line("S1", "F1", referralCode=code),
            session_line("S2", "F2", referralCode="NOPE-NOPE"),
            {"path": "/v2/nowhere"},
        ],
    )
    result = active("replay", str(source))
    assert result.exit_code == 1, result
    text = result.stdout
    assert "Replayed 3 request(s)" in text
    assert "1 failed" in text
    assert "Summary" in text
    for words in ("request", "profile", "session", "effect", "referralCreated", "acceptReferral"):
        assert words in text, words
    assert "rejection" in text and "ReferralNotFound" in text
    assert "failed: line 4" in result.stderr
    assert "/v2/nowhere" in result.stderr
    check_db(active)


# --- replaying twice, stdin, progress ------------------------------------------------------------


@pytest.mark.both_engines
@pytest.mark.slow
def test_replaying_the_same_file_twice_changes_nothing_the_second_time(
    run: Run, campaigns_dir: Path, tmp_path: Path
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    for campaign in (CAMPAIGN, "reviews"):
        ok(run("campaign", "activate", campaign))
    code = register(run, "ADVOCATE")
    source = write(
        tmp_path / "twice.jsonl",
        [
            profile_line("NEW1"),
            session_line("S1", "F1", referralCode=code),
            event_line("F1"),
            event_line("F1", stars=4),
            event_line("NEW1"),
            session_line("S2", "F2", referralCode=code),
            {
                "path": "/v2/customer_sessions/S2",
                "body": {"customerSession": {"state": "cancelled"}},
            },
        ],
    )
    profiles = ["ADVOCATE", "NEW1", "F1", "F2"]
    programs = (WALLET, "review-wallet")

    first = ok(run("replay", str(source), "--json")).json
    assert first["applied"] == 7 and first["skipped"] == 0
    assert first["effects"]["addLoyaltyPoints"] == 7  # 2 referrals x 2, and 3 reviews
    before = snapshot(run, profiles, programs)
    assert before["F1"]["balances"]["review-wallet"]["ledger"]["currentBalance"] == 40
    assert before["ADVOCATE"]["balances"][WALLET]["ledger"]["currentBalance"] == 100

    second = ok(run("replay", str(source), "--json")).json
    assert second["applied"] == 0
    assert second["skipped"] == 7
    assert second["requests"] == {} and second["effects"] == {}
    assert snapshot(run, profiles, programs) == before

    third = ok(run("replay", str(source)))
    assert "7 line(s) already replayed earlier" in third.stdout
    assert snapshot(run, profiles, programs) == before
    check_db(run)


@pytest.mark.both_engines
def test_resuming_skips_the_applied_lines_and_retries_the_failed_one(
    run: Run, campaigns_dir: Path, tmp_path: Path, state_url: str
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    ok(run("campaign", "activate", "reviews"))
    # events are not idempotent: applying line 1 twice would give A 40 points
    source = write(
        tmp_path / "resume.jsonl",
        [
            event_line("A"),
            event_line("B"),
            {**event_line("C"), "body": {**event_line("C")["body"], "sessionId": "NO"}},
            event_line("D"),
        ],
    )
    stopped = run("replay", str(source), "--stop-on-error", "--json")
    assert stopped.exit_code == 1, stopped
    assert stopped.json["applied"] == 2
    assert replays_table(state_url)[0][2] == 2
    assert run("loyalty", "balance", "D").exit_code == 1

    resumed = run("replay", str(source), "--json")
    assert resumed.exit_code == 1, resumed
    assert resumed.json["skipped"] == 2
    assert resumed.json["applied"] == 1
    assert [f["line"] for f in resumed.json["failures"]] == [3]
    for profile in ("A", "B", "D"):
        assert balance(run, profile, "review-wallet") == 20, profile
    assert run("profile", "show", "C").exit_code == 1
    check_db(run)


def test_progress_is_recorded_with_the_line_count(
    active: Run, tmp_path: Path, state_url: str
) -> None:
    source = write(
        tmp_path / "progress.jsonl",
        [profile_line("A"), "", profile_line("B"), session_line("S1", "A"), profile_line("C")],
    )
    ok(active("replay", str(source), "--json"))
    rows = replays_table(state_url)
    # The log is known by its first line; its progress by the digest of the lines applied (each
    # without its line ending: for a file of LF lines, the file's own hash).
    identity = hashlib.sha256(json.dumps(profile_line("A")).encode()).hexdigest()[:32]
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert rows == [(f"{identity}:{digest}", str(source), 5)]
    check_db(active)


def test_progress_an_older_refcamp_recorded_is_resumed(
    run: Run, campaigns_dir: Path, tmp_path: Path, state_url: str
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    ok(run("campaign", "activate", "reviews"))
    source = write(tmp_path / "old.jsonl", [event_line("A"), event_line("B")])
    ok(run("replay", str(source), "--json"))
    # As an older refcamp kept it: under the file's hash.
    with closing(open_state(state_url)) as conn:
        conn.execute(
            "UPDATE replays SET fingerprint = ?", (hashlib.sha256(source.read_bytes()).hexdigest(),)
        )
    again = ok(run("replay", str(source), "--json")).json
    assert (again["skipped"], again["applied"]) == (2, 0)
    # Known now by its first line: it may grow.
    with source.open("a") as handle:
        handle.write(json.dumps(event_line("C")) + "\n")
    grown = ok(run("replay", str(source), "--json")).json
    assert (grown["skipped"], grown["applied"]) == (2, 1)
    assert [balance(run, p, "review-wallet") for p in "ABC"] == [20, 20, 20]
    assert len(replays_table(state_url)) == 1
    check_db(run)


def test_stdin_replay_is_not_resumed_but_its_requests_are_idempotent(
    active: Run, tmp_path: Path, state_url: str
) -> None:
    code = register(active, "ADVOCATE")
    text = "\n".join(
        json.dumps(line)
        for line in (
            profile_line("NEW1"),
            session_line("S1", "F1", referralCode=code),
            session_line("S2", "F2", referralCode=code),
        )
    )
    first = ok(active("replay", "-", "--json", input=text + "\n")).json
    assert first["applied"] == 3
    assert first["effects"] == {"referralCreated": 1, "acceptReferral": 2, "addLoyaltyPoints": 4}
    profiles = ["ADVOCATE", "NEW1", "F1", "F2"]
    before = snapshot(active, profiles)

    second = ok(active("replay", "-", "--json", input=text + "\n")).json
    assert second["skipped"] == 0  # no progress is kept for a stream
    assert second["applied"] == 3
    assert second["effects"] == {}  # a known profile and closed sessions award nothing again
    assert snapshot(active, profiles) == before
    assert balance(active, "ADVOCATE") == 200
    assert replays_table(state_url) == []
    check_db(active)


def test_stdin_replay_writes_out(active: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    text = "".join(
        json.dumps(asking(profile_line(p), "customerProfile")) + "\n" for p in ("NEW1", "NEW2")
    )
    ok(active("replay", "-", "--out", str(out), "--json", input=text))
    records = read_out(out)
    assert [r["line"] for r in records] == [1, 2]
    assert [r["customerProfile"]["integrationId"] for r in records] == ["NEW1", "NEW2"]
    check_db(active)


# --- paths, dry lines ----------------------------------------------------------------------------


def test_percent_encoded_ids_are_decoded(active: Run, tmp_path: Path) -> None:
    code = register(active, "ADVOCATE")
    source = write(
        tmp_path / "encoded.jsonl",
        [
            asking(
                {"path": "/v2/customer_profiles/Zo%C3%AB", "query": {"runRuleEngine": "true"}},
                "customerProfile",
            ),
            asking(
                {
                    "path": "/v2/customer_sessions/S%201",
                    "body": {
                        "customerSession": {
                            "profileId": "Zoë",
                            "state": "closed",
                            "referralCode": code,
                        }
                    },
                },
                "customerSession",
            ),
        ],
    )
    out = tmp_path / "out.jsonl"
    ok(active("replay", str(source), "--out", str(out), "--json"))
    records = read_out(out)
    assert records[0]["customerProfile"]["integrationId"] == "Zoë"
    assert records[1]["customerSession"]["integrationId"] == "S 1"
    shown = ok(active("profile", "show", "Zoë", "--json")).json
    assert len(shown["referrals"]) == 1
    assert balance(active, "Zoë") == 50
    session = ok(active("session", "show", "S 1", "--json")).json["customerSession"]
    assert session["profileId"] == "Zoë"
    assert active("profile", "show", "Zo%C3%AB").exit_code == 1
    check_db(active)


def test_a_full_url_with_host_and_query_string_works(active: Run, tmp_path: Path) -> None:
    source = write(
        tmp_path / "url.jsonl",
        [
            {"path": "https://x.example/v2/customer_profiles/P?runRuleEngine=true", "body": {}},
            {"path": "https://x.example/v2/customer_profiles/Q?runRuleEngine=false"},
            {"path": "/v2/customer_profiles/R?runRuleEngine=true&dry=true"},
        ],
    )
    summary = ok(active("replay", str(source), "--json")).json
    assert summary["requests"] == {"profile": 3}
    assert summary["effects"] == {"referralCreated": 2}  # P, and R's dry run
    assert [r["advocateProfileIntegrationId"] for r in referral_codes(active)] == ["P"]
    assert ok(active("profile", "show", "Q")).exit_code == 0
    assert active("profile", "show", "R").exit_code == 1
    check_db(active)


def test_dry_lines_save_nothing(active: Run, tmp_path: Path) -> None:
    code = register(active, "ADVOCATE")
    dry = {"dry": "true"}
    source = write(
        tmp_path / "dry.jsonl",
        [
            {**profile_line("NEW1"), "query": {"runRuleEngine": "true", "dry": "true"}},
            {**session_line("S1", "F1", referralCode=code), "query": dry},
            {**event_line("F2"), "query": dry},
        ],
    )
    out = tmp_path / "out.jsonl"
    summary = ok(active("replay", str(source), "--out", str(out), "--json")).json
    assert summary["applied"] == 3
    assert summary["effects"] == {"referralCreated": 1, "acceptReferral": 1, "addLoyaltyPoints": 2}
    records = read_out(out)
    assert all(r["dryRun"] is True for r in records)
    dry_code = records[0]["createdReferrals"][0]["code"]
    assert [r["code"] for r in referral_codes(active)] == [code]
    assert active("referral", "show", dry_code).exit_code == 1
    for profile in ("NEW1", "F1", "F2"):
        assert active("profile", "show", profile).exit_code == 1, profile
    assert active("session", "show", "S1").exit_code == 1
    assert balance(active, "ADVOCATE") == 0
    assert ok(active("referral", "show", code, "--json")).json["usageCounter"] == 0
    check_db(active)


def test_a_missing_file_is_an_input_error(active: Run, tmp_path: Path) -> None:
    result = active("replay", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2, result
    assert "nope.jsonl" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- long files: a second process reads them -----------------------------------------------------


def long_traffic(count: int, codes: list[str]) -> list[Any]:
    """`count` lines of every kind, friends bringing `codes` and unknown ones, and a bad line now
    and then."""
    lines: list[Any] = []
    for i in range(count):
        if i % 97 == 0:
            lines.append(
                ["{not json", b"\xff\xfe", "[1]", session_line(f"X{i}", "P", state="x")][i % 4]
            )
        elif i % 5 == 0:
            lines.append(event_line(f"P{i - 1}", stars=4 + i % 2))
        elif i % 5 == 1:
            code = codes[i % len(codes)] if i % 2 else f"NOPE-{i}"
            lines.append(session_line(f"S{i}", f"P{i - 2}", referralCode=code))
        elif i % 5 == 2:
            lines.append(
                session_line(
                    f"C{i}", f"P{i}", cartItems=[{"sku": "a", "quantity": i % 3 + 1, "price": 9}]
                )
            )
        else:
            lines.append(profile_line(f"P{i}", **({"now": TIMES[i % 9]} if i % 2 else {})))
    return lines


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("seconds", "requestsPerSecond")}


@pytest.mark.slow
def test_a_long_file_read_by_a_worker_gives_what_a_stream_gives(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    campaigns_dir: Path,
    new_state: Callable[[str], str],
) -> None:
    from refcamp.replay import WORKER_LINES

    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    monkeypatch.setenv("REFCAMP_SEED", "11")  # the same codes in both databases
    monkeypatch.setenv("REFCAMP_NOW", TIMES[4])
    dbs = {how: new_state(f"{how}.db") for how in ("file", "stream")}
    for db in dbs.values():
        for campaign in (CAMPAIGN, "reviews"):
            ok(run("--db", db, "campaign", "activate", campaign))
        codes = [register(run, f"A{k}", "--db", db) for k in range(5)]
    lines = long_traffic(WORKER_LINES + 700, codes)
    source = write(tmp_path / "long.jsonl", lines)
    results = {}
    for how, db in dbs.items():
        out = tmp_path / f"{how}.jsonl"
        argument, given = (str(source), None) if how == "file" else ("-", source.read_bytes())
        result = run("--db", db, "replay", argument, "--out", str(out), "--json", input=given)
        assert result.exit_code == 1, result  # the bad lines
        results[how] = (without_timing(result.json), read_out(out))
        check_db(run, "--db", db)

    summary, records = results["file"]
    bad = sum(1 for i in range(len(lines)) if i % 97 == 0)
    assert summary["failed"] == bad and summary["applied"] == len(lines) - bad
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    for effect in ("referralCreated", "acceptReferral", "rejectReferral", "addLoyaltyPoints"):
        assert summary["effects"][effect] > 0, effect
    assert summary["rejections"]["ReferralNotFound"] > 0
    assert results["file"][0] == results["stream"][0]
    assert [scrub(r) for r in records] == [scrub(r) for r in results["stream"][1]]


@pytest.mark.stateless
@pytest.mark.slow
def test_the_worker_reads_exactly_what_this_process_reads(tmp_path: Path) -> None:
    from refcamp.payloads import UNSET
    from refcamp.replay import CHUNK_LINES, IDLE, in_worker, numbered, requests

    lines = long_traffic(3 * CHUNK_LINES + 11, ["CODE-1", "CODE-2"])
    lines[40:40] = ["", "   ", "x" * 100]  # blank lines are not items; a bad one is
    source = write(tmp_path / "long.jsonl", lines)
    for done in (0, 7, CHUNK_LINES + 3):
        with source.open("rb") as handle:
            here = list(requests(numbered(handle), done))
        # IDLE says "nothing yet" while the worker starts on a busy machine: not an item.
        there = [item for item in in_worker(source, done) if item != IDLE]
        assert there == here, done
        assert all((item is None) == (n <= done) for n, item in there)
    # The validated bodies crossed a process boundary and still say what was left unset.
    session = next(item for _, item in there if getattr(item, "kind", "") == "session")
    assert session.body.coupon_codes is UNSET


@pytest.mark.stateless
def test_a_long_file_goes_to_a_worker_and_a_short_rest_stays_here(tmp_path: Path) -> None:
    from refcamp.replay import IDLE, WORKER_LINES, _cores, from_file

    source = write(tmp_path / "long.jsonl", [profile_line(f"P{i}") for i in range(WORKER_LINES)])
    reader = from_file(source, WORKER_LINES)
    long = "in_worker" if _cores() > 1 else "_in_process"  # one core: nothing to share the work
    for done, where in ((0, long), (1, "_in_process")):
        items = reader(done)
        assert items.__name__ == where  # type: ignore[attr-defined]
        # IDLE says "nothing yet" while the worker starts on a busy machine: not an item.
        assert next(item for item in items if item != IDLE)[0] == 1
        items.close()


@pytest.mark.stateless
def test_a_worker_that_cannot_read_the_file_says_so(tmp_path: Path) -> None:
    from refcamp.errors import InputError
    from refcamp.replay import _in_process, in_worker

    for read in (in_worker, _in_process):
        with pytest.raises(InputError, match=r"gone\.jsonl: No such file or directory"):
            list(read(tmp_path / "gone.jsonl", 0))


@pytest.mark.slow
def test_stop_on_error_in_a_long_file_stops_the_worker_and_resumes_later(
    active: Run, tmp_path: Path, state_url: str
) -> None:
    from refcamp.replay import WORKER_LINES

    lines: list[Any] = [profile_line(f"P{i}") for i in range(WORKER_LINES + 500)]
    lines[1499] = "{not json"
    source = write(tmp_path / "long.jsonl", lines)
    first = active("replay", str(source), "--stop-on-error", "--json")
    assert first.exit_code == 1, first
    assert (first.json["applied"], first.json["failed"]) == (1499, 1)
    assert [f["line"] for f in first.json["failures"]] == [1500]
    assert ok(active("profile", "show", "P1498")).exit_code == 0
    assert active("profile", "show", "P1500").exit_code == 1
    assert replays_table(state_url)[0][2] == 1499

    second = active("replay", str(source), "--json")
    assert second.exit_code == 1, second
    assert (second.json["skipped"], second.json["applied"]) == (1499, len(lines) - 1500)
    assert ok(active("profile", "show", f"P{len(lines) - 1}")).exit_code == 0
    check_db(active)


@pytest.mark.stateless
def test_without_a_process_to_spare_the_file_is_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing.context

    from refcamp.replay import in_worker, numbered, requests

    def refuse(self: Any) -> None:
        raise OSError(11, "Resource temporarily unavailable")  # as fork() under a process limit

    for name in ("ForkProcess", "SpawnProcess"):
        if hasattr(multiprocessing.context, name):
            monkeypatch.setattr(getattr(multiprocessing.context, name), "start", refuse)
    source = write(tmp_path / "long.jsonl", long_traffic(700, ["CODE-1"]))
    with source.open("rb") as handle:
        assert list(in_worker(source, 5)) == list(requests(numbered(handle), 5))


@pytest.mark.slow
def test_a_long_replay_with_stdout_closed_still_applies_every_line(
    active: Run, tmp_path: Path, isolated: Path
) -> None:
    import subprocess
    import sys

    from refcamp.replay import WORKER_LINES

    lines = [profile_line(f"P{i}") for i in range(WORKER_LINES + 100)]
    source = write(tmp_path / "long.jsonl", lines)
    command = f'"{sys.executable}" -m refcamp replay "{source}" --json >&-'
    subprocess.run(command, shell=True, capture_output=False, timeout=120, check=False)
    again = ok(active("replay", str(source), "--json"))
    assert (again.json["skipped"], again.json["applied"]) == (len(lines), 0)
    check_db(active)


@pytest.mark.stateless
@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"a\n", b"a\nb", b"\n\n", b"x" * (1 << 20) + b"\ny", (b"z" * 999 + b"\n") * 3000],
)
def test_a_file_is_fingerprinted_and_counted_in_one_read(tmp_path: Path, data: bytes) -> None:
    from refcamp.replay import fingerprint

    path = tmp_path / "traffic.jsonl"
    path.write_bytes(data)
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    assert fingerprint(path) == (hashlib.sha256(data).hexdigest(), lines)
