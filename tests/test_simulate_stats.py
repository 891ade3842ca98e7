"""`refcamp simulate` (a forecast over a synthetic population, in a scratch database),
`refcamp campaign stats` (what a campaign has done, from the state file), and the benchmarks'
smoke run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import check_db, full_run, ok, state_exists, state_rows

Run = Callable[..., Any]  # conftest's `run` fixture

CAMPAIGN = "medium-referral"
COUPONS = "spring-coupons"
START = "2026-03-01T00:00:00Z"
REPO = Path(__file__).resolve().parents[1]
SMALL = ("--customers", "200", "--days", "10")


# --- helpers -------------------------------------------------------------------------------------


def simulate(run: Run, *args: str, seed: str = "7", now: str = START) -> dict[str, Any]:
    return ok(run("--now", now, "simulate", *SMALL, "--seed", seed, *args, "--json")).json


def one_error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    assert result.stdout == ""
    return lines[0]


def figures(report: dict[str, Any], campaign: str) -> dict[str, Any]:
    found = [f for f in report["campaigns"] if f["campaignId"] == campaign]
    assert len(found) == 1, report["campaigns"]
    return found[0]


def issued(f: dict[str, Any]) -> int:
    return sum(p["issued"] for p in f["points"].values())


def assert_consistent(f: dict[str, Any]) -> None:
    """The figures of one campaign agree with each other."""
    referrals = f["referrals"]
    assert referrals["accepted"] >= referrals["rolledBack"] >= 0
    assert referrals["accepted"] >= f["acquiredCustomers"]
    assert f["acquiredCustomers"] == referrals["accepted"] - referrals["rolledBack"]
    for points in f["points"].values():
        assert points["net"] == points["issued"] - points["rolledBack"] - points["deducted"]
    net_points = sum(p["net"] for p in f["points"].values())
    net_discount = f["discount"]["given"] - f["discount"]["rolledBack"]
    assert f["cost"] == pytest.approx(net_points * f["pointValue"] + net_discount, abs=0.006)
    if f["acquiredCustomers"]:
        per = f["cost"] / f["acquiredCustomers"]
        assert f["costPerAcquiredCustomer"] == pytest.approx(per, abs=0.006)
    else:
        assert f["costPerAcquiredCustomer"] is None
    assert sum(d["points"] for d in f["pointsByDay"]) == issued(f)
    days = [d["day"] for d in f["pointsByDay"]]
    assert days == sorted(set(days))


def state_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("state.db*"))}


def state_now(where: str) -> Any:
    """What "not a byte changed" compares: the state file's bytes, or on PostgreSQL (no file)
    every table's rows."""
    if where.startswith("postgresql://"):
        return state_rows(where)
    return state_files(Path(where).parent)["state.db"]


# --- simulate: reproducible, consistent ----------------------------------------------------------


@pytest.mark.stateless
@pytest.mark.slow
def test_same_seed_gives_the_same_report_and_another_seed_another(run: Run) -> None:
    first = simulate(run, "--campaign", CAMPAIGN)
    again = simulate(run, "--campaign", CAMPAIGN)
    assert first == again
    # the simulation starts at midnight of --now: the time of day does not matter
    assert simulate(run, "--campaign", CAMPAIGN, now="2026-03-01T17:45:00Z") == first
    other = simulate(run, "--campaign", CAMPAIGN, seed="8")
    assert other != first
    assert other["campaigns"] != first["campaigns"]


@pytest.mark.stateless
def test_simulate_report_shape(run: Run) -> None:
    report = simulate(run, "--campaign", CAMPAIGN)
    assert report["start"] == "2026-03-01"
    assert report["population"]["customers"] == 200
    assert report["population"]["days"] == 10
    assert report["population"]["seed"] == 7
    requests = report["requests"]
    assert requests["registrations"] >= 200
    assert 0 < requests["orders"] <= requests["registrations"]
    assert [f["campaignId"] for f in report["campaigns"]] == [CAMPAIGN]
    days = [d["day"] for d in report["pointsByDay"]]
    assert all("2026-03-01" <= day <= "2026-03-10" for day in days)


@pytest.mark.stateless
def test_simulated_referral_figures_are_consistent(run: Run) -> None:
    report = simulate(run, "--campaign", CAMPAIGN)
    f = figures(report, CAMPAIGN)
    assert_consistent(f)
    accepted = f["referrals"]["accepted"]
    assert accepted > 0
    assert issued(f) == 150 * accepted  # 100 for the advocate, 50 for the friend
    assert f["points"]["sample-wallet"]["rolledBack"] == 150 * f["referrals"]["rolledBack"]
    assert f["referralCodes"] == report["requests"]["registrations"]
    assert f["cost"] == pytest.approx(f["points"]["sample-wallet"]["net"] * 0.01, abs=0.006)
    assert report["pointsByDay"] == f["pointsByDay"]
    assert sum(d["points"] for d in report["pointsByDay"]) == issued(f)


@pytest.mark.stateless
def test_point_value_prices_the_simulated_points(run: Run) -> None:
    f = figures(simulate(run, "--campaign", CAMPAIGN, "--point-value", "0.5"), CAMPAIGN)
    assert f["pointValue"] == 0.5
    assert f["cost"] == pytest.approx(f["points"]["sample-wallet"]["net"] * 0.5)
    assert_consistent(f)


@pytest.mark.stateless
def test_no_cancellations_no_rollbacks(run: Run) -> None:
    report = simulate(run, "--campaign", CAMPAIGN, "--cancel-rate", "0")
    assert report["requests"]["cancellations"] == 0
    f = figures(report, CAMPAIGN)
    assert f["referrals"]["accepted"] > 0
    assert f["referrals"]["rolledBack"] == 0
    assert f["points"]["sample-wallet"]["rolledBack"] == 0
    assert f["acquiredCustomers"] == f["referrals"]["accepted"]
    assert_consistent(f)


@pytest.mark.stateless
def test_no_sharing_no_referrals(run: Run) -> None:
    report = simulate(run, "--campaign", CAMPAIGN, "--referral-rate", "0")
    assert report["requests"]["registrations"] == 200  # no friends were brought
    f = figures(report, CAMPAIGN)
    assert f["referrals"]["accepted"] == 0
    assert f["acquiredCustomers"] == 0
    assert f["points"] == {} or issued(f) == 0
    assert f["pointsByDay"] == [] and report["pointsByDay"] == []
    assert f["cost"] == 0
    assert f["costPerAcquiredCustomer"] is None


@pytest.mark.stateless
def test_with_spring_coupons_coupons_are_created_and_discounts_given(run: Run) -> None:
    report = simulate(run, "--campaign", CAMPAIGN, "--campaign", COUPONS)
    assert [f["campaignId"] for f in report["campaigns"]] == [CAMPAIGN, COUPONS]
    spring = figures(report, COUPONS)
    assert spring["coupons"] == report["requests"]["registrations"]  # a welcome coupon each
    assert spring["couponRedemptions"]["accepted"] > 0
    assert spring["discount"]["given"] > 0
    assert spring["points"] == {} and spring["pointsByDay"] == []
    assert spring["referralCodes"] == 0
    assert_consistent(spring)
    referral = figures(report, CAMPAIGN)
    assert referral["coupons"] == 0
    assert_consistent(referral)
    alone = figures(simulate(run, "--campaign", CAMPAIGN), CAMPAIGN)
    assert referral == alone  # the coupons do not change what the referral campaign does


@pytest.mark.stateless
def test_human_report(run: Run) -> None:
    result = ok(run("--now", START, "simulate", *SMALL, "--seed", "7", "--campaign", CAMPAIGN))
    text = result.stdout
    assert re.search(r"Simulated 200 customers over 10 days from 2026-03-01 \(seed 7\)", text)
    assert "referral codes created" in text
    assert "referrals accepted" in text
    assert "cost per acquired customer" in text
    assert "Points issued per day" in text
    assert re.search(r"2026-03-0\d\s+█+ \d+", text)


# --- simulate: which campaigns, which state file -------------------------------------------------


def test_without_campaign_and_none_enabled_exits_1_with_a_hint(
    run: Run, state_url: str, request: pytest.FixtureRequest, engine: str
) -> None:
    result = run("--now", START, "simulate", *SMALL)
    assert result.exit_code == 1, result
    line = one_error_line(result)
    assert "no campaign to simulate" in line
    assert "refcamp campaign activate" in line and "--campaign" in line
    assert not state_exists(state_url)


@pytest.mark.both_engines
def test_simulate_picks_up_the_campaign_enabled_in_the_state_file(run: Run, state_url: str) -> None:
    ok(run("campaign", "activate", CAMPAIGN))
    before = state_now(state_url)
    report = simulate(run)
    assert [f["campaignId"] for f in report["campaigns"]] == [CAMPAIGN]
    assert report == simulate(run, "--campaign", CAMPAIGN)
    assert state_now(state_url) == before  # not a byte (not a row) changed
    # nothing was written to the user's state: no profile, no code
    assert ok(run("referral", "list", "--json")).json == []
    assert run("profile", "show", "SIM-C0").exit_code == 1
    check_db(run)


def test_simulate_skips_a_campaign_deactivated_in_the_state_file(
    run: Run, campaigns_dir: Path
) -> None:
    toml = campaigns_dir / f"{COUPONS}.toml"
    toml.write_text(toml.read_text().replace('state = "disabled"', 'state = "enabled"', 1))
    ok(run("campaign", "activate", CAMPAIGN))
    ok(run("campaign", "deactivate", COUPONS))
    states = {c["refcamp"]["id"]: c["state"] for c in ok(run("campaign", "list", "--json")).json}
    assert states == {CAMPAIGN: "enabled", COUPONS: "disabled"}
    report = simulate(run)
    assert [f["campaignId"] for f in report["campaigns"]] == [CAMPAIGN]


def test_simulate_uses_a_campaign_enabled_in_its_file_before_any_state(
    run: Run, campaigns_dir: Path, state_url: str, request: pytest.FixtureRequest, engine: str
) -> None:
    toml = campaigns_dir / f"{COUPONS}.toml"
    toml.write_text(toml.read_text().replace('state = "disabled"', 'state = "enabled"', 1))
    report = simulate(run)
    assert [f["campaignId"] for f in report["campaigns"]] == [COUPONS]
    assert not state_exists(state_url)


def test_simulate_never_creates_the_state_file(run: Run, state_url: str) -> None:
    simulate(run, "--campaign", CAMPAIGN)
    ok(run("--now", START, "simulate", *SMALL, "--campaign", CAMPAIGN))
    assert not state_exists(state_url)


@pytest.mark.both_engines
def test_simulate_leaves_the_users_state_file_alone(run: Run, state_url: str) -> None:
    ok(run("campaign", "activate", CAMPAIGN))
    code = ok(run("profile", "update", "REAL", "-q")).stdout.strip()
    before = state_now(state_url)
    report = simulate(run, "--campaign", COUPONS)
    assert figures(report, COUPONS)["coupons"] > 0
    assert state_now(state_url) == before
    assert [r["code"] for r in ok(run("referral", "list", "--json")).json] == [code]
    states = {c["refcamp"]["id"]: c["state"] for c in ok(run("campaign", "list", "--json")).json}
    assert states == {CAMPAIGN: "enabled", COUPONS: "disabled"}
    check_db(run)


def test_with_into_the_simulated_data_lands_there(run: Run, state_url: str, tmp_path: Path) -> None:
    ok(run("campaign", "activate", CAMPAIGN))
    before = state_now(state_url)
    # --into names a new SQLite file whichever engine the user's state is in.
    other = str(tmp_path / "other.db")
    report = ok(
        run(
            "--now", START, "simulate", *SMALL, "--seed", "7",
            "--campaign", CAMPAIGN, "--into", other, "--json",
        )
    ).json  # fmt: skip
    f = figures(report, CAMPAIGN)
    codes = ok(run("--db", other, "referral", "list", "--json")).json
    assert len(codes) == f["referralCodes"] > 0
    ok(run("--db", other, "profile", "show", "SIM-C0"))
    stats = ok(run("--db", other, "campaign", "stats", CAMPAIGN, "--json")).json
    assert stats == f
    check_db(run, "--db", other)
    assert state_now(state_url) == before
    assert run("profile", "show", "SIM-C0").exit_code == 1


@pytest.mark.parametrize(
    ("option", "value", "code", "words"),
    [
        ("--customers", "0", 2, "--customers"),
        ("--referral-rate", "2", 2, "--referral-rate"),
        ("--cancel-rate", "-0.1", 2, "--cancel-rate"),
        ("--days", "0", 2, "--days"),
        ("--basket-mean", "-1", 2, "--basket-mean"),
        ("--friends-per-advocate", "101", 2, "--friends-per-advocate"),
        ("--point-value", "-1", 2, "--point-value"),
        ("--campaign", "nope", 1, "nope"),
    ],
)
def test_bad_options(
    run: Run, state_url: str, option: str, value: str, code: int, words: str
) -> None:
    args = ["--now", START, "simulate", option, value]
    if option != "--campaign":
        args += ["--campaign", CAMPAIGN]
    result = run(*args)
    assert result.exit_code == code, result
    line = one_error_line(result)
    assert line.startswith("refcamp: error:")
    assert words in line
    assert not state_exists(state_url)


# --- campaign stats on known commands ------------------------------------------------------------


@pytest.fixture
def story(active: Run) -> Run:
    """3 registrations, 2 accepted referrals, 1 rejected at checkout (ProfileLimitReached),
    1 cancelled order, each at a known time."""

    def at(now: str, *args: str) -> Any:
        return ok(active("--now", now, *args))

    codes = [
        at(f"2026-03-01T1{n}:00:00Z", "profile", "update", f"ADV{n}", "-q").stdout.strip()
        for n in range(3)
    ]
    at("2026-03-02T10:00:00Z", "session", "close", "S1", "--profile", "F1", "--referral", codes[0])
    at("2026-03-04T10:00:00Z", "session", "close", "S2", "--profile", "F2", "--referral", codes[1])
    rejected = at(
        "2026-03-04T11:00:00Z",
        "session", "close", "S3", "--profile", "F1", "--referral", codes[2], "--json",
    ).json  # fmt: skip
    assert rejected["effects"][0]["props"]["rejectionReason"] == "ProfileLimitReached"
    at("2026-03-05T10:00:00Z", "session", "cancel", "S2")
    # neither an open session nor a dry run counts as a checkout
    at("2026-03-05T11:00:00Z", "session", "update", "S4", "--profile", "F3", "--referral", codes[2])
    at(
        "2026-03-05T12:00:00Z",
        "session", "close", "S5", "--profile", "F1", "--referral", codes[2], "--dry-run",
    )  # fmt: skip
    return active


@pytest.mark.both_engines
def test_campaign_stats_reports_exact_figures(story: Run) -> None:
    result = story("campaign", "stats", CAMPAIGN, "--point-value", "0.5", "--json")
    assert result.exit_code == 0, result
    assert result.json == {
        "campaignId": CAMPAIGN,
        "name": "MEDIUM-REFERRAL: Generate and redeem a referral code",
        "referralCodes": 3,
        "coupons": 0,
        "referrals": {"accepted": 2, "rolledBack": 1, "rejected": {"ProfileLimitReached": 1}},
        "couponRedemptions": {"accepted": 0, "rolledBack": 0, "rejected": {}},
        "points": {"sample-wallet": {"issued": 300, "rolledBack": 150, "deducted": 0, "net": 150}},
        "discount": {"given": 0, "rolledBack": 0},
        "acquiredCustomers": 1,
        "pointsByDay": [
            {"day": "2026-03-02", "points": 150},
            {"day": "2026-03-04", "points": 150},
        ],
        "pointValue": 0.5,
        "cost": 75.0,
        "costPerAcquiredCustomer": 75.0,
    }
    check_db(story)


def test_campaign_stats_default_point_value(story: Run) -> None:
    data = ok(story("campaign", "stats", CAMPAIGN, "--json")).json
    assert data["pointValue"] == 0.01
    assert data["cost"] == 1.5
    assert data["costPerAcquiredCustomer"] == 1.5


def test_campaign_stats_in_words_with_the_per_day_chart(story: Run) -> None:
    result = ok(story("campaign", "stats", CAMPAIGN, "--point-value", "0.5"))
    text = result.stdout
    for label, value in (
        ("referral codes created", "3"),
        ("referrals accepted", "2"),
        ("referrals rolled back", "1"),
        ("referrals rejected: ProfileLimitReached", "1"),
        ("points issued (sample-wallet)", "300"),
        ("points rolled back (sample-wallet)", "150"),
        ("points outstanding (sample-wallet)", "150"),
        ("customers acquired by referral", "1"),
        ("cost per acquired customer", "75.00"),
    ):
        assert re.search(re.escape(label) + r"\W+" + re.escape(value) + r"\b", text), label
    assert "Points issued per day" in text
    assert re.search(r"2026-03-02\s+█+ 150", text)
    assert re.search(r"2026-03-03\s+0\b", text)  # a day without points is shown too
    assert re.search(r"2026-03-04\s+█+ 150", text)
    assert "2026-03-05" not in text


def test_campaign_stats_of_a_campaign_that_did_nothing(run: Run) -> None:
    data = ok(run("campaign", "stats", COUPONS, "--json")).json
    assert data["referralCodes"] == 0 and data["coupons"] == 0
    assert data["points"] == {}
    assert data["pointsByDay"] == []
    assert data["cost"] == 0
    assert data["costPerAcquiredCustomer"] is None
    text = ok(run("campaign", "stats", COUPONS)).stdout
    assert "n/a" in text
    assert "Points issued per day" not in text


def test_campaign_stats_counts_coupon_discounts_and_their_rollback(run: Run) -> None:
    ok(run("campaign", "activate", COUPONS))
    coupons = []
    for customer in ("C1", "C2"):
        data = ok(run("profile", "update", customer, "--json")).json
        coupons.append(data["createdCoupons"][0]["value"])
    for n, (customer, price) in enumerate((("C1", 80), ("C2", 100)), start=1):
        item = f"sku=shoe,name=Shoe,price={price},quantity=1,category=Shoes"
        closed = ok(
            run(
                "session", "close", f"S{n}", "--profile", customer,
                "--coupon", coupons[n - 1], "--item", item, "--json",
            )
        ).json  # fmt: skip
        assert "setDiscount" in [e["effectType"] for e in closed["effects"]]
    ok(run("session", "cancel", "S2"))
    data = ok(run("campaign", "stats", COUPONS, "--json")).json
    assert data["coupons"] == 2
    assert data["couponRedemptions"] == {"accepted": 2, "rolledBack": 1, "rejected": {}}
    assert data["discount"]["given"] == pytest.approx(18)
    assert data["discount"]["rolledBack"] == pytest.approx(10)
    assert data["cost"] == pytest.approx(8)
    assert data["costPerAcquiredCustomer"] is None
    check_db(run)


def test_campaign_stats_of_an_unknown_campaign_exits_1(run: Run) -> None:
    result = run("campaign", "stats", "nope", "--json")
    assert result.exit_code == 1, result
    assert "nope" in one_error_line(result)


@pytest.mark.stateless
def test_campaign_stats_rejects_a_negative_point_value(run: Run) -> None:
    result = run("campaign", "stats", CAMPAIGN, "--point-value", "-1")
    assert result.exit_code == 2, result
    assert "--point-value" in one_error_line(result)


# --- the benchmarks' smoke run -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.stateless  # the benchmarks make states of their own
@pytest.mark.skipif(
    not full_run(),
    reason="the benchmarks' smoke run (20-60 s on a 2-core machine): `python -m pytest --full`",
)
def test_bench_quick_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFCAMP_")}
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # large state and cold start print a ratio line each; replay prints its ratio to the floor
    # (#13) and the --out overhead, its one round exercising the floor, refcamp and --out
    ratios = [line for line in lines if line.startswith("ratio")]
    assert len(ratios) == 2, proc.stdout
    assert any(line.startswith("refcamp/floor:") for line in lines), proc.stdout
    assert any(line.startswith("--out overhead") for line in lines), proc.stdout
    # the request log's cost (#12), the log on and off side by side
    assert any(line.startswith("request log: replay time with / without") for line in lines)
    assert "Traceback" not in proc.stderr
