"""Issue 15, campaign files, listings and replay reruns: every problem of a campaign file at once,
a file validated with its directory, `campaign new` outside a project, templates in the docs'
style, paged listings, replay reruns that retry exactly the failed lines."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, program_of
from test_replay import REVIEWS, event_line, write

from refcamp.paths import SAMPLES

EIGHT_MISTAKES = """
[campaign]
id = "Bad_Id"
state = "enabeld"
features = ["referals", "loyalty"]
priorty = 3

[[rules]]
name = "r1"
when = [{ event = "talon_sesion_closed" }, { attribute = "session.totl", op = ">", value = "50" }]
then = [{ effect = "add_loyalty_points", program = "sample-walet", points = 0 }]

[[rules]]
name = "r2"
when = [{ attribute = "profile.attributes.age", op = ">", value = "18" }]
then = [{ effect = "add_loyalty_points", program = "sample-walet", points = 5 }]
"""


@pytest.mark.stateless
def test_validate_lists_every_problem_at_once(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.toml").write_text(EIGHT_MISTAKES)
    result = run("campaign", "validate", str(folder))
    assert result.exit_code == 2, result
    lines = [line.strip() for line in result.stderr.splitlines()[1:] if line.strip()]
    expected = [
        "[campaign]: state: unknown value 'enabeld'",
        "[campaign]: unknown key 'priorty'",
        "[campaign]: features: unknown feature 'referals'",
        "[campaign]: id: 'Bad_Id'",
        "rule 1 'r1': condition 1: event: unknown built-in event 'talon_sesion_closed'",
        "rule 1 'r1': condition 2: attribute: unknown path 'session.totl'",
        "rule 1 'r1': condition 2: value: op '>' compares numbers, got a string '50'",
        "rule 1 'r1': effect 1: points: must be at least 1, got 0",
        "rule 1 'r1': effect 1: program: unknown loyalty program 'sample-walet'",
        "rule 2 'r2': condition 1: value: op '>' compares numbers, got a string '18'",
        "rule 2 'r2': effect 1: program: unknown loyalty program 'sample-walet'",
    ]
    for part in expected:
        assert sum(part in line for line in lines) == 1, (part, result.stderr)
    assert len(lines) == len(expected), result.stderr
    assert f"({len(expected)} problems)" in result.stderr


@pytest.mark.stateless
def test_rules_are_checked_even_when_the_campaign_table_is_wrong(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.toml").write_text(
        'campaign = "oops"\n\n[[rules]]\nname = "r"\nwhen = []\n'
        'then = [{ effect = "add_loyalty_points", program = "nope", points = 1 }]\n'
    )
    result = run("campaign", "validate", str(folder))
    assert result.exit_code == 2, result
    assert "campaign: expected a table" in result.stderr
    assert "unknown loyalty program 'nope'" in result.stderr


PROGRAM_FILE = '[[loyalty_program]]\nid = "house-points"\nname = "House points"\n'
USES_PROGRAM = """
[campaign]
id = "uses-points"
features = ["loyalty"]

[[rules]]
name = "Points per order"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "house-points", points = 5 }]
"""


@pytest.mark.stateless
def test_validate_a_file_in_the_context_of_its_directory(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "programs.toml").write_text(PROGRAM_FILE)
    (folder / "uses-points.toml").write_text(USES_PROGRAM)
    by_folder = run("campaign", "validate", str(folder))
    assert by_folder.exit_code == 0, by_folder
    by_file = run("campaign", "validate", str(folder / "uses-points.toml"))
    assert by_file.exit_code == 0, by_file
    assert "programs.toml" in by_file.stdout  # it says what it was checked with
    as_json = run("campaign", "validate", str(folder / "uses-points.toml"), "--json")
    assert as_json.exit_code == 0, as_json
    assert as_json.json["valid"] is True
    assert as_json.json["campaigns"] == ["uses-points"] and as_json.json["programs"] == []
    assert [Path(p).name for p in as_json.json["checkedWith"]] == ["programs.toml"]
    # A clash with a neighbour is found by file too: the directory could not load.
    (folder / "twin.toml").write_text(USES_PROGRAM)
    clash = run("campaign", "validate", str(folder / "uses-points.toml"))
    assert clash.exit_code == 2, clash
    assert "duplicate id 'uses-points'" in clash.stderr


# --- 2: campaign new outside a project ------------------------------------------------------------


def test_campaign_new_outside_a_project_keeps_the_samples_and_their_codes(active: Run) -> None:
    registered = active("profile", "update", "ADVOCATE", "--json")
    assert registered.exit_code == 0, registered
    [referral] = registered.json["createdReferrals"]
    assert not Path("campaigns").exists()  # the samples are the campaign directory
    made = active("campaign", "new", "homecamp", "--template", "coupon")
    assert made.exit_code == 0, made
    said = " ".join(made.stdout.split())
    assert "campaigns/homecamp.toml" in said
    assert "instead of the shipped samples" in said
    assert "medium-referral.toml" in said and "spring-coupons.toml" in said
    listed = active("campaign", "list", "--json")
    assert [c["refcamp"]["id"] for c in listed.json] == [
        "homecamp",
        "medium-referral",
        "spring-coupons",
    ]
    assert "enabled" in active("campaign", "show", "medium-referral").stdout
    closed = active(
        "session", "close", "--profile", "FRIEND", "--referral", referral["code"], "--json"
    )
    assert closed.exit_code == 0, closed
    assert closed.json["effects"][0]["effectType"] == "acceptReferral"
    assert active("db", "check").exit_code == 0


def test_campaign_new_may_not_reuse_a_shipped_samples_id(run: Run) -> None:
    result = run("campaign", "new", "medium-referral")
    assert result.exit_code != 0
    assert "medium-referral" in result.stderr
    assert not Path("campaigns").exists()  # nothing half-written
    assert run("campaign", "show", "medium-referral").exit_code == 0


def test_campaign_new_elsewhere_says_it_is_not_in_use(run: Run, tmp_path: Path) -> None:
    result = run("campaign", "new", "later", "--dir", str(tmp_path / "drafts"))
    assert result.exit_code == 0, result
    said = " ".join(result.stdout.split())
    assert "not in the campaign directory in use" in said and "--campaigns" in said
    assert run("campaign", "show", "medium-referral").exit_code == 0


# --- 7b: templates in the docs' style ---------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "campaigns.md"


def docs_snippet(heading: str) -> str:
    """The first ```toml block after a heading of docs/campaigns.md."""
    text = DOCS.read_text()
    after = text[text.index(heading) :]
    start = after.index("```toml\n") + len("```toml\n")
    return after[start : after.index("```", start)]


@pytest.mark.parametrize("template", ["referral", "coupon", "loyalty"])
@pytest.mark.stateless
def test_docs_snippets_paste_into_a_new_campaign_file(
    run: Run, tmp_path: Path, template: str
) -> None:
    folder = tmp_path / "mine"
    made = run("campaign", "new", "pasted", "--template", template, "--dir", str(folder))
    assert made.exit_code == 0, made
    path = folder / "pasted.toml"
    text = path.read_text()
    assert "[[campaign.limits]]" in text or template == "loyalty"
    assert "[[loyalty_program]]" in text or template == "coupon"
    limits = docs_snippet("## `[[campaign.limits]]`")
    program = '[[loyalty_program]]\nid = "extra-wallet"\nname = "Extra"\n'
    path.write_text(text + "\n" + limits + "\n" + program)
    checked = run("campaign", "validate", str(path))
    assert checked.exit_code == 0, (checked, path.read_text())


@pytest.mark.stateless
def test_an_inline_table_extended_by_a_header_gets_a_hint(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "x.toml").write_text(
        '[campaign]\nid = "x"\nlimits = [{ action = "redeemReferral", limit = 1 }]\n\n'
        + docs_snippet("## `[[campaign.limits]]`")
    )
    result = run("campaign", "validate", str(folder))
    assert result.exit_code == 2, result
    said = " ".join(result.stderr.split())
    assert "Cannot mutate immutable namespace" in said
    assert "written inline" in said and "[[campaign.limits]]" in said


# --- 7d: listings page, and a long table renders as fast as JSON ---------------------------------


def refcamp(*args: str, columns: int = 80) -> tuple[subprocess.CompletedProcess[str], float]:
    """The real command in its own process, output piped (80 columns unless told), and its time."""
    env = {**os.environ, "COLUMNS": str(columns)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "refcamp", *args], capture_output=True, text=True, env=env
    )
    return done, time.perf_counter() - started


@pytest.mark.slow
def test_a_table_of_ten_thousand_codes_is_as_quick_as_json_and_never_splits_a_code() -> None:
    made, _ = refcamp("coupon", "create", "--campaign", "spring-coupons", "--count", "10000", "-q")
    assert made.returncode == 0, made.stderr
    codes = made.stdout.split()
    assert len(codes) == 10_000
    as_json, json_seconds = refcamp("coupon", "list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    listed_codes = [c["value"] for c in json.loads(as_json.stdout)]
    assert sorted(listed_codes) == sorted(codes)
    listed, table_seconds = refcamp("coupon", "list")
    assert listed.returncode == 0, listed.stderr
    # Every code whole, one row each, in order; the table fits 80 columns.
    rows = [line.split("│")[1].strip() for line in listed.stdout.splitlines() if "│" in line]
    assert rows == listed_codes
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert "Created left out to fit 80 columns" in listed.stderr
    assert table_seconds < 2 * json_seconds + 1, (table_seconds, json_seconds)


def test_listings_take_limit_and_offset(run: Run) -> None:
    made = run("coupon", "create", "--campaign", "spring-coupons", "--count", "12", "-q")
    assert made.exit_code == 0, made
    codes = [c["value"] for c in run("coupon", "list", "--json").json]
    assert sorted(codes) == sorted(made.stdout.split())
    page = run("coupon", "list", "--limit", "5", "--offset", "3", "--json")
    assert [c["value"] for c in page.json] == codes[3:8]
    shown = run("coupon", "list", "--limit", "5", "--offset", "10")
    assert shown.exit_code == 0, shown
    assert [c for c in codes if c in shown.stdout] == codes[10:]
    assert "Rows 11–12 of 12" in shown.stderr
    past = run("coupon", "list", "--offset", "50")
    assert past.exit_code == 0 and "│" not in past.stdout
    assert "No rows after the first 50 (there are 12)" in past.stderr
    for bad in (("--limit", "-1"), ("--offset", "-2")):
        refused = run("coupon", "list", *bad)
        assert refused.exit_code == 2 and bad[0] in refused.stderr, refused
    for advocate in ("ANN", "BOB", "CAT"):
        created = run("referral", "create", "--campaign", "medium-referral", "--advocate", advocate)
        assert created.exit_code == 0, created
    first = run("referral", "list", "--limit", "2", "--json").json
    rest = run("referral", "list", "--offset", "2", "--json").json
    assert [r["advocateProfileIntegrationId"] for r in first + rest] == ["ANN", "BOB", "CAT"]
    assert "Rows 1–2 of 3; next: --offset 2" in run("referral", "list", "--limit", "2").stderr


def test_a_listing_on_a_terminal_shows_a_page_and_says_how_to_see_more() -> None:
    made, _ = refcamp("coupon", "create", "--campaign", "spring-coupons", "--count", "150", "-q")
    assert made.returncode == 0, made.stderr
    main, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    with subprocess.Popen(
        [sys.executable, "-m", "refcamp", "coupon", "list"],
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        os.close(secondary)
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            out += chunk
        stderr = process.stderr.read().decode() if process.stderr else ""
    os.close(main)
    assert process.returncode == 0, stderr
    codes = sorted(made.stdout.split())  # made at one time, so listed in code order
    assert [c for c in codes if c in out.decode()] == codes[:100]
    assert "Rows 1–100 of 150; next: --offset 100" in stderr


# --- 7e: a replay rerun retries exactly the lines that failed -------------------------------------


def points(run: Run, profile: str) -> int:
    shown = run("loyalty", "balance", profile, "--json")
    if shown.exit_code == 1:  # no such customer: no points
        return 0
    assert shown.exit_code == 0, shown
    return int(program_of(shown.json, "review-wallet")["ledger"]["currentBalance"])


def test_a_replay_rerun_retries_exactly_the_failed_lines(
    run: Run, campaigns_dir: Path, tmp_path: Path
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    assert run("campaign", "activate", "reviews").exit_code == 0
    bad_session = {**event_line("C"), "body": {**event_line("C")["body"], "sessionId": "NO"}}
    lines: list[Any] = [event_line("A"), event_line("B"), bad_session, event_line("D")]
    lines += ["{not json", event_line("E")]
    source = write(tmp_path / "log.jsonl", lines)

    first = run("replay", str(source), "--json")
    assert first.exit_code == 1, first
    assert (first.json["applied"], first.json["failed"]) == (4, 2)
    assert [f["line"] for f in first.json["failures"]] == [3, 5]

    # Nothing changed: the failed lines are tried again (and fail again), nothing else is applied.
    again = run("replay", str(source), "--json")
    assert again.exit_code == 1, again
    assert (again.json["retried"], again.json["applied"], again.json["skipped"]) == (2, 0, 4)
    assert [f["line"] for f in again.json["failures"]] == [3, 5]
    said = run("replay", str(source))
    assert said.exit_code == 1
    assert "retried 2 line(s) that failed before (3, 5)" in " ".join(said.stdout.split())

    # One line fixed: only it is applied; the other is retried and still fails.
    lines[4] = event_line("F")
    write(source, lines)
    fixed = run("replay", str(source), "--json")
    assert fixed.exit_code == 1, fixed
    assert (fixed.json["retried"], fixed.json["applied"], fixed.json["failed"]) == (2, 1, 1)
    lines[2] = event_line("C")
    write(source, lines)
    done = run("replay", str(source), "--json")
    assert done.exit_code == 0, done
    assert (done.json["retried"], done.json["applied"], done.json["failed"]) == (1, 1, 0)
    assert [points(run, p) for p in "ABCDEF"] == [20] * 6  # every line applied exactly once

    settled = run("replay", str(source), "--json")
    assert settled.exit_code == 0, settled
    assert (settled.json["retried"], settled.json["applied"], settled.json["skipped"]) == (0, 0, 6)

    # Starting over applies every line again, as asked.
    over = run("replay", str(source), "--start-over", "--json")
    assert over.exit_code == 0, over
    assert (over.json["applied"], over.json["skipped"]) == (6, 0)
    assert [points(run, p) for p in "ABCDEF"] == [40] * 6
    assert run("replay", str(source), "--json").json["applied"] == 0
    assert run("db", "check").exit_code == 0


def test_a_failed_first_line_fixed_is_retried_alone(
    run: Run, campaigns_dir: Path, tmp_path: Path
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    assert run("campaign", "activate", "reviews").exit_code == 0
    lines: list[Any] = ['{"path": "/v2/nowhere"}', event_line("A"), event_line("B")]
    source = write(tmp_path / "log.jsonl", lines)
    assert run("replay", str(source)).exit_code == 1
    lines[0] = event_line("Z")  # the line a log is known by changes: it is still the same log
    write(source, lines)
    fixed = run("replay", str(source), "--json")
    assert fixed.exit_code == 0, fixed
    assert (fixed.json["retried"], fixed.json["applied"], fixed.json["skipped"]) == (1, 1, 2)
    assert [points(run, p) for p in "ZAB"] == [20, 20, 20]
    assert run("replay", str(source), "--json").json["applied"] == 0
    assert run("db", "check").exit_code == 0


def test_a_replay_rerun_keeps_one_response_per_line_in_out(
    run: Run, campaigns_dir: Path, tmp_path: Path
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    assert run("campaign", "activate", "reviews").exit_code == 0
    lines: list[Any] = [event_line("A"), "{not json", event_line("B")]
    source = write(tmp_path / "log.jsonl", lines)
    out = tmp_path / "out.jsonl"
    assert run("replay", str(source), "--out", str(out)).exit_code == 1
    lines[1] = event_line("C")
    write(source, lines)
    assert run("replay", str(source), "--out", str(out)).exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["line"] for r in records) == [1, 2, 3]
    assert all("error" not in r for r in records), records


def test_campaign_list_says_which_campaigns_with_codes_are_out_of_reach(
    run: Run, campaigns_dir: Path
) -> None:
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    assert run("profile", "update", "ADVOCATE", "-q").exit_code == 0
    quiet = run("campaign", "list")
    assert quiet.exit_code == 0 and "state file holds codes" not in quiet.stderr
    (campaigns_dir / "medium-referral.toml").rename(campaigns_dir.parent / "elsewhere.toml")
    # The program lived in that file too: the rest of the directory must still validate.
    listed = run("campaign", "list")
    assert listed.exit_code == 0, listed
    said = " ".join(listed.stderr.split())
    assert "not in" in said and "medium-referral (1 code)" in said and "--campaigns" in said


@pytest.mark.stateless
def test_campaign_new_outside_a_project_that_clashes_with_a_sample_writes_nothing(
    run: Run,
) -> None:
    # The referral template's program would be "sample-wallet", medium-referral's.
    result = run("campaign", "new", "sample", "--template", "referral")
    assert result.exit_code == 2, result
    assert "duplicate id 'sample-wallet'" in result.stderr
    assert "campaigns/sample.toml" in result.stderr and ".campaigns." not in result.stderr
    assert not Path("campaigns").exists()
    assert [p.name for p in Path().iterdir()] == []  # no temporary folder left either


@pytest.mark.stateless
def test_campaign_new_next_to_a_single_campaign_file_in_use(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "spring.toml").write_bytes((SAMPLES / "spring-coupons.toml").read_bytes())
    monkeypatch.setenv("REFCAMP_CAMPAIGNS", str(folder / "spring.toml"))
    result = run("campaign", "new", "next", "--template", "coupon")
    assert result.exit_code == 0, result
    assert (folder / "next.toml").is_file()
    assert "not in the campaign directory in use" in " ".join(result.stdout.split())
