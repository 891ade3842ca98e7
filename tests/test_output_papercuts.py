"""Issue 15, output people read: user and campaign text printed literally, help printed once,
tables that fit 80 columns without splitting a code, global options after the command, help text,
quiet usual cases, simulate's progress bar, wording. Every test runs the real command."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, examples, ok
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from refcamp.paths import SAMPLES

TIMEOUT = 120
_numbers = itertools.count(1)

SOME = settings(
    max_examples=examples(15),  # the full run's count; the default run draws a share
    deadline=None,
    # Shrinking CLI runs is slow; a failure still prints the draw.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def refcamp(
    *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, its output a pipe, the environment as the test set it
    (plus `env`, less `unset`)."""
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-m", "refcamp", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=environment,
    )


# --- item 0: user and campaign text is printed literally ----------------------------------------

# Printable text rich in what Rich would read as markup ([bold], [/x], [link=...], \[): no
# control or format characters (those are shown as escapes, tested elsewhere), no marks or
# odd spaces (how a terminal draws them is not refcamp's), nothing at the ends for a table to trim.
_piece = st.sampled_from(["[", "]", "[/", "[/]", "[bold]", "[/red]", "[link=x]", "\\", "[info]"])
_chars = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Mc", "Me", "Zl", "Zp", "Zs"),
    max_codepoint=0x2FFF,
)
TEXT = (
    st.lists(st.one_of(_piece, _chars, st.just(" ")), min_size=1, max_size=6)
    .map("".join)
    .map(str.strip)
    .filter(lambda s: "[" in s and not s.startswith("-"))
)


def _toml(text: str) -> str:
    return json.dumps(text)  # JSON's escapes are TOML's basic-string escapes


@SOME
@given(profile=TEXT, value=TEXT, name=TEXT, rule=TEXT, title=TEXT)
@example("[/red]X", "[gift] wrap", "[draft] Dresden promo", "[b]it's[/b]", "a \\[/x] 'q'")
@pytest.mark.stateless
@pytest.mark.slow
def test_user_and_campaign_text_is_printed_literally_everywhere(
    run: Run, isolated: Path, profile: str, value: str, name: str, rule: str, title: str
) -> None:
    n = next(_numbers)
    folder = isolated / f"campaigns-{n}"
    shutil.copytree(SAMPLES, folder)
    (folder / "marked.toml").write_text(
        "[campaign]\n"
        'id = "marked"\n'
        f"name = {_toml(name)}\n"
        'state = "enabled"\n'
        'features = ["coupons"]\n'
        "[campaign.coupons]\n"
        'pattern = "M-####"\n'
        "[[rules]]\n"
        f"name = {_toml(rule)}\n"
        'when = [{ event = "talon_profile_created" }]\n'
        "then = [\n"
        '  { effect = "create_coupon" },\n'
        '  { effect = "show_notification", type = "info", '
        f'title = {_toml(title)}, body = "b" }},\n'
        "]\n",
        encoding="utf-8",
    )
    g = ("--db", str(isolated / f"state-{n}.db"), "--campaigns", str(folder))
    ok(run(*g, "campaign", "activate", "medium-referral"))
    ok(run(*g, "campaign", "activate", "spring-coupons"))

    made = ok(run(*g, "profile", "update", profile, "--attr", f"note={value}")).stdout
    assert f"created for {profile}" in made  # the coupon's details name the customer
    assert rule in made and f"[info] {title}: b" in made
    assert "[info] Welcome!" in made  # the shipped notification keeps its [info]

    shown = ok(run(*g, "profile", "show", profile)).stdout
    assert profile in shown and value in shown
    assert profile in ok(run(*g, "loyalty", "balance", profile)).stdout
    assert profile in ok(run(*g, "coupon", "list")).stdout
    assert name in ok(run(*g, "campaign", "list")).stdout
    described = ok(run(*g, "campaign", "show", "marked")).stdout
    assert name in described and rule in described and title in described
    assert name in ok(run(*g, "campaign", "stats", "marked")).stdout
    noted = ok(run(*g, "session", "close", "S", "--profile", profile, "--item", "sku=a,price=1"))
    assert "internal error" not in noted.stderr
    assert profile in ok(run(*g, "session", "show", "S")).stdout
    assert profile in ok(run(*g, "referral", "list")).stdout


# --- item 8: help once ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.stateless
def test_bare_refcamp_and_every_bare_group_print_their_help_once(isolated: Path) -> None:
    from refcamp.cli import NOUNS

    groups = [noun for noun, kind in NOUNS.items() if kind == "group"]
    for words in [[], *([group] for group in groups)]:
        shown = refcamp(*words)
        assert shown.returncode == 0, shown
        assert shown.stdout.count("Usage: refcamp") == 1, (words, shown.stdout)
        assert shown.stderr == "", shown


# --- item 9: tables at 80 columns ----------------------------------------------------------------

NOW = ("--now", "2026-03-01T10:00:00Z")
ADVOCATES = ["ADVOCATE-0001-LONGER-ID", "[/red]X", "Zoë 東京 🙂"]


def _story(run: Run) -> list[str]:
    """Advocates with codes and coupons, a friend who used one: the words tables must keep whole."""
    ok(run(*NOW, "campaign", "activate", "medium-referral"))
    ok(run(*NOW, "campaign", "activate", "spring-coupons"))
    for advocate in ADVOCATES:
        ok(run(*NOW, "profile", "update", advocate))
    referrals = [r["code"] for r in ok(run("referral", "list", "--json")).json]
    coupons = [c["value"] for c in ok(run("coupon", "list", "--json")).json]
    closed = run(
        *NOW, "session", "close", "S-0001", "--profile", "FRIEND-0001", "--item", "sku=a,price=60",
        "--referral", referrals[0],
    )  # fmt: skip
    ok(closed)
    return [*referrals, *coupons, "medium-referral", "spring-coupons", "ADVOCATE-0001-LONGER-ID"]


def _fits(output: str, width: int, whole: list[str]) -> None:
    from rich.cells import cell_len

    lines = output.splitlines()
    assert lines, output
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    for word in whole:
        if word in output.replace("\n", " "):
            assert any(word in line for line in lines), (word, output)  # never split


@pytest.mark.slow
def test_tables_through_a_pipe_fit_80_columns_and_never_split_a_code(run: Run) -> None:
    whole = _story(run)
    for args in (
        ["referral", "list"],
        ["coupon", "list"],
        ["campaign", "list"],
        ["loyalty", "ledger", "FRIEND-0001"],
        ["session", "show", "S-0001"],
        ["profile", "show", "ADVOCATE-0001-LONGER-ID"],
        ["loyalty", "programs"],
        [*NOW, "profile", "update", "ADVOCATE-0002-LONGER-ID"],
        [
            *NOW,
            "session",
            "close",
            "S-2",
            "--profile",
            "F2",
            "--item",
            "sku=a,price=9",
            "--explain",
        ],
    ):
        for shown in (refcamp(*args, env={"COLUMNS": "80"}), refcamp(*args, unset=("COLUMNS",))):
            assert shown.returncode == 0, shown
            _fits(shown.stdout, 80, [*whole, "Advocate", "Campaign", "2026-03-01 10:00"])
    listed = refcamp("referral", "list", unset=("COLUMNS",))
    for code in whole[:3]:
        assert code in listed.stdout
    assert "left out to fit 80 columns" in listed.stderr  # what is not shown is said
    wide = refcamp("referral", "list", env={"COLUMNS": "200"})
    assert "Created" in wide.stdout and "left out" not in wide.stderr


def test_a_table_too_narrow_for_an_id_is_drawn_wider_rather_than_split_it(run: Run) -> None:
    ok(run(*NOW, "campaign", "activate", "medium-referral"))
    long_id = "CUSTOMER-" + "0123456789" * 8
    ok(run(*NOW, "profile", "update", long_id))
    for args in (["referral", "list"], ["loyalty", "balance", long_id]):
        shown = refcamp(*args, env={"COLUMNS": "60"})
        assert shown.returncode == 0, shown
        assert any(long_id in line for line in shown.stdout.splitlines()), shown.stdout


# --- item 12: global options after the command ---------------------------------------------------


@pytest.mark.slow
def test_a_global_option_after_the_command_says_to_put_it_before(isolated: Path) -> None:
    for args, option in (
        (["simulate", "--now", "2026-03-01T00:00:00Z", "--customers", "5"], "--now"),
        (["session", "close", "S1", "--profile", "P", "--db", "x.db"], "--db"),
        (["session", "close", "S1", "--profile", "P", "--db=x.db"], "--db"),
        (["campaign", "list", "--campaigns", "somewhere"], "--campaigns"),
        (["session", "--now", "2026-03-01T00:00:00Z", "close", "S1"], "--now"),
    ):
        refused = refcamp(*args)
        assert refused.returncode == 2, refused
        assert refused.stdout == ""
        [line] = refused.stderr.splitlines()
        assert f"{option} is a global option: put it before the command (refcamp {option}" in line
    assert not (isolated / "work" / "x.db").exists()
    assert not (isolated / "state.db").exists()  # nothing ran
    # The option-value check still sees a global option taken as a command option's value.
    swallowed = refcamp("session", "close", "S1", "--profile", "--db")
    assert swallowed.returncode == 2, swallowed
    assert "--profile needs a value, got the option --db" in swallowed.stderr
    # And before the command, where it belongs, it works.
    placed = refcamp("--now", "2026-03-01T00:00:00Z", "session", "close", "S1", "--profile", "P")
    assert placed.returncode == 0, placed


# --- item 10: help text --------------------------------------------------------------------------


def _commands() -> list[tuple[list[str], Any]]:
    """Every command and group of refcamp, with its words after `refcamp`."""
    import typer

    from refcamp.cli import app

    found = []

    def walk(command: Any, words: list[str]) -> None:
        found.append((words, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.stateless
def test_help_reads_as_sentences_with_no_python_types_or_braces(run: Run) -> None:
    import inspect

    wide = {"COLUMNS": "1000"}  # a paragraph is then one line, unless the help itself breaks it
    for words, command in _commands():
        shown = ok(run(*words, "--help", env=wide)).stdout
        assert "<bool>" not in shown and "<list[" not in shown, (words, shown)
        [usage] = [line for line in shown.splitlines() if "Usage:" in line]
        assert "{" not in usage and "}" not in usage, usage
        lines = [" ".join(line.split()) for line in shown.splitlines()]
        doc = inspect.getdoc(command.callback) if command.callback else None
        for paragraph in (doc or "").split("\n\n"):
            if not paragraph.startswith((" ", "-")):
                sentence = " ".join(paragraph.split())
                assert sentence in lines, (words, sentence, shown)
    for words, text in (
        (["session", "cancel"], "every point it booked (the advocate's too) and every code use"),
        (["coupon", "create"], "drawn from the campaign's [campaign.coupons] pattern"),
        (["session", "return"], "position=P[,quantity=Q]"),
    ):
        assert text in " ".join(ok(run(*words, "--help", env=wide)).stdout.split()), words
    flags = ok(run("session", "close", "--help", env=wide)).stdout
    assert re.search(r"--item +<str> +A cart item", flags), flags
    assert re.search(r"--dry-run +Evaluate", flags), flags  # a flag shows no type


# --- item 13: the usual case quiet, the tentative case said -------------------------------------


def test_a_request_no_rule_reacts_to_says_so_in_one_line(run: Run) -> None:
    ok(run("campaign", "activate", "medium-referral"))
    ok(run("campaign", "activate", "spring-coupons"))
    quiet = ok(run("session", "update", "S1", "--profile", "P", "--item", "sku=a,price=10"))
    assert quiet.stdout == "No effects.\n"
    assert "did not fire" not in quiet.stderr
    [said] = [line for line in quiet.stderr.splitlines() if "rule" in line.lower()]
    assert said == "No rule fired (5 rules checked; --explain shows why each did not)."
    explained = ok(run("session", "update", "S1", "--item", "sku=a,price=10", "--explain"))
    assert explained.stdout.count("did not fire") == 5


def test_a_valid_code_on_an_open_session_is_said_to_wait_for_the_close(run: Run) -> None:
    ok(run("campaign", "activate", "medium-referral"))
    [code] = ok(run("profile", "update", "ADVOCATE", "-q")).stdout.split()
    waiting = ok(run("session", "update", "S1", "--profile", "FRIEND", "--referral", code))
    words = " ".join(waiting.stdout.split())
    assert f"referral code {code} is valid; it is redeemed when the session closes" in words
    assert "rejected" not in words
    as_json = ok(run("session", "update", "S1", "--referral", code, "--json")).json
    [effect] = [e for e in as_json["effects"] if e["effectType"] == "rejectReferral"]
    assert effect["props"]["rejectionReason"] == "ReferralRejectedByCondition"  # Talon's shape
    closed = ok(run("session", "close", "S1"))
    assert f"referral code {code} accepted" in " ".join(closed.stdout.split())
    wrong = ok(run("session", "update", "S2", "--profile", "F2", "--referral", "NOPE-NOPE"))
    assert "rejected: ReferralNotFound" in " ".join(wrong.stdout.split())
    ok(run("db", "check"))


# --- item 14: simulate's progress bar ------------------------------------------------------------


def on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The real command with its stderr on a pseudo-terminal (where progress bars are drawn):
    the finished process (stdout a pipe) and everything drawn on the terminal."""
    import pty
    import threading

    leader, follower = pty.openpty()
    drawn = bytearray()

    def drain() -> None:  # read as it is drawn: a full terminal buffer would block the command
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower closed
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
        process = subprocess.Popen(
            [sys.executable, "-m", "refcamp", *args],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env=env,
        )
        os.close(follower)
        stdout, _ = process.communicate(timeout=TIMEOUT)
        reader.join(timeout=10)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, ""), drawn.decode(
        "utf-8", "replace"
    )


@pytest.mark.slow
def test_simulate_draws_replays_kind_of_bar_with_a_fixed_total(run: Run) -> None:
    ok(run("campaign", "activate", "medium-referral"))
    done, drawn = on_a_terminal(
        "--now", "2026-03-01T00:00:00Z", "simulate", "--customers", "2000", "--days", "30"
    )
    assert done.returncode == 0, (done, drawn)
    totals = set(re.findall(r"day \d+/(\d+)", drawn))
    assert totals == {"30"}, drawn  # a fixed total: the days simulated
    assert re.search(r"[\d,]+ requests/s", drawn), drawn  # a unit and a rate
    assert re.search(r"\d+:\d\d:\d\d|-:--:--", drawn), drawn  # the time left
    # The summary says why there are more registrations than customers.
    summary = done.stdout.splitlines()[0]
    registrations = int(re.search(r"(\d+) registrations", summary)[1])  # type: ignore[index]
    friends = registrations - 2000
    assert friends > 0, summary
    assert f"(2000 customers and {friends} friends they referred)" in summary, summary


# --- item 15: wording ----------------------------------------------------------------------------


def test_a_custom_event_is_named_once(run: Run) -> None:
    tracked = ok(run("event", "track", "review_posted", "--profile", "P"))
    assert "Event: review_posted\n" in tracked.stderr, tracked
    registered = ok(run("profile", "update", "Q"))
    assert "Event: Customer Profile Registration (talon_profile_created)" in registered.stderr


def test_tables_show_json_words_never_pythons(run: Run) -> None:
    ok(run("profile", "update", "P", "--attr", "vip=true", "--attr", 'tags:=["a","b"]'))
    shown = ok(run("profile", "show", "P")).stdout
    assert re.search(r"attributes\.vip +│ true ", shown), shown
    assert '["a", "b"]' in shown and "True" not in shown and "['a'" not in shown, shown


def test_amounts_read_5_not_5_0(run: Run) -> None:
    ok(run("campaign", "activate", "spring-coupons"))
    ok(run("profile", "update", "BUYER"))
    [coupon] = [c["value"] for c in ok(run("coupon", "list", "--json")).json]
    bought = ok(
        run(
            "session", "update", "S1", "--profile", "BUYER", "--coupon", coupon,
            "--item", "sku=a,price=60,category=Accessories",
        )
    )  # fmt: skip
    words = " ".join(bought.stdout.split())
    assert "discount '5 off accessories': 5 on matching items" in words, words
    assert "discount '10% off': 6 off the total" in words, words
    assert ".0 " not in words


def test_the_campaign_list_names_the_directory_by_where_it_is(run: Run) -> None:
    shutil.copytree(SAMPLES, Path("campaigns"))
    listed = ok(run("campaign", "list")).stdout
    assert listed.splitlines()[0] == f"Campaigns in {Path('campaigns').resolve()}", listed


def test_a_customer_with_no_program_gets_a_sentence_not_bare_headers(
    run: Run, isolated: Path
) -> None:
    alone = isolated / "alone"
    alone.mkdir()
    shutil.copy(SAMPLES / "spring-coupons.toml", alone)
    ok(run("--campaigns", str(alone), "profile", "update", "LONER"))
    none = ok(run("--campaigns", str(alone), "loyalty", "balance", "LONER")).stdout
    assert none == "No loyalty programs in the campaigns, so LONER has no balance.\n", none


def test_points_per_amount_reads_as_english(run: Run, campaigns_dir: Path) -> None:
    (campaigns_dir / "per.toml").write_text(
        "[campaign]\n"
        'id = "per"\n'
        'name = "Points per euro"\n'
        'state = "enabled"\n'
        'features = ["loyalty"]\n'
        "[[rules]]\n"
        'name = "Per euro"\n'
        'when = [{ event = "talon_session_closed" }]\n'
        'then = [{ effect = "add_loyalty_points", program = "sample-wallet", points_per = 1, '
        'of = "session.total" }]\n',
        encoding="utf-8",
    )
    described = ok(run("campaign", "show", "per")).stdout
    assert "add 1 point per unit of session.total to the current customer" in described, described


def test_simulate_json_keys_are_camel_case(run: Run) -> None:
    ok(run("campaign", "activate", "medium-referral"))
    report = ok(
        run(
            "--now",
            "2026-03-01T00:00:00Z",
            "simulate",
            "--customers",
            "20",
            "--days",
            "3",
            "--json",
        )
    ).json
    assert set(report["population"]) == {
        "customers", "days", "referralRate", "friendsPerAdvocate", "cancelRate", "basketMean",
        "seed",
    }  # fmt: skip

    def keys(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [k for k, v in value.items() for k in (k, *keys(v))]
        if isinstance(value, list):
            return [k for v in value for k in keys(v)]
        return []

    assert [k for k in keys(report) if "_" in k] == [], report


def test_an_unknown_name_gets_one_hint_and_a_missing_file_is_called_a_file(run: Run) -> None:
    ok(run("profile", "update", "P"))
    close = run("loyalty", "balance", "P", "--program", "sample-walet")
    assert close.exit_code == 1, close
    assert "(did you mean sample-wallet?)" in close.stderr and "known" not in close.stderr
    far = run("loyalty", "balance", "P", "--program", "zzz")
    assert far.exit_code == 1, far
    assert "no loyalty program 'zzz' (known: sample-wallet)" in far.stderr, far
    campaign = run("campaign", "show", "medium-referal")
    assert campaign.exit_code == 1, campaign
    assert "(did you mean medium-referral?)" in campaign.stderr and "known" not in campaign.stderr
    file = run("--campaigns", "nope.toml", "campaign", "list")
    assert file.exit_code == 2, file
    assert "campaign file nope.toml does not exist" in file.stderr, file
    folder = run("--campaigns", "nope", "campaign", "list")
    assert "campaign directory nope does not exist" in folder.stderr, folder


# --- item 9 (cont.): a long table is drawn as fast as its JSON is printed -----------------------


@pytest.mark.slow
def test_a_table_of_thousands_of_rows_takes_about_what_json_takes(run: Run) -> None:
    import time

    ok(run("coupon", "create", "--campaign", "spring-coupons", "--count", "3000", "--json"))

    def timed(*args: str) -> float:
        started = time.monotonic()
        done = refcamp("coupon", "list", *args, env={"COLUMNS": "80"})
        assert done.returncode == 0, done
        return time.monotonic() - started

    as_json, as_table = timed("--json"), timed()
    # Rich took some 3 ms a row (10 s here; half a minute for 10,000): now about --json's time.
    assert as_table < 2 * as_json + 1.5, (as_table, as_json)
