"""Bad input through the CLI: exit 2 with one line on stderr naming the problem, no traceback,
nothing written. Things that do not exist exit 1; a state file that is not refcamp's exits 2.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_input_error

Run = Callable[..., Any]  # conftest's `run` fixture

SESSION = "S1"
PROFILE = "P1"


def assert_nothing_written(run: Run, session: str | None = SESSION, profile: str = PROFILE) -> None:
    if session is not None:
        assert run("session", "show", session).exit_code == 1
    assert run("profile", "show", profile).exit_code == 1
    listed = run("referral", "list", "--json")  # exit 1 when no state file was made at all
    assert listed.json == [] if listed.exit_code == 0 else "no state file" in listed.stderr


def session_update(run: Run, *args: str, input: str | None = None) -> Any:
    return run("session", "update", SESSION, "--profile", PROFILE, *args, input=input)


# --- --item and --attr ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sku=a,price=abc", ["price", "number", "abc"]),
        ("sku=a,colour=red", ["unknown key", "colour"]),
        ("sku=a,quantity=0", ["quantity", "at least 1"]),
        ("sku=a,quantity=1.5", ["quantity", "whole number"]),
        ("name=ProductC,price=100", ["sku", "required"]),
        ("sku=a,price=-1", ["price", "negative"]),
        ("sku=a,price=nan", ["price", "number"]),
        ("sku=a,price", ["'price'", "not key=value"]),
    ],
)
def test_bad_item_exits_2_and_writes_nothing(run: Run, spec: str, words: list[str]) -> None:
    result = session_update(run, "--item", spec)
    message = assert_input_error(result, "--item", *words)
    assert spec in message
    assert_nothing_written(run)


def test_bad_second_item_names_it_and_writes_nothing(run: Run) -> None:
    result = session_update(run, "--item", "sku=a,price=1", "--item", "sku=b,colour=red")
    assert_input_error(result, "sku=b,colour=red", "colour")
    assert_nothing_written(run)


@pytest.mark.parametrize("command", [["session", "update", SESSION], ["profile", "update"]])
def test_attr_without_equals_exits_2(run: Run, command: list[str]) -> None:
    args = [*command, PROFILE] if command[0] == "profile" else [*command, "--profile", PROFILE]
    result = run(*args, "--attr", "colour")
    assert_input_error(result, "--attr", "colour", "KEY=VALUE")
    assert_nothing_written(run)


def test_attr_with_empty_key_exits_2(run: Run) -> None:
    result = run("profile", "update", PROFILE, "--attr", "=blue")
    assert_input_error(result, "--attr", "key is empty")
    assert_nothing_written(run, session=None)


def test_attr_with_bad_json_exits_2(run: Run) -> None:
    result = run("profile", "update", PROFILE, "--attr", "tags:=[1")
    assert_input_error(result, "--attr", "invalid JSON")
    assert_nothing_written(run, session=None)


# --- payloads ------------------------------------------------------------------------------------


def test_invalid_json_payload_file_exits_2(run: Run, tmp_path: Path) -> None:
    body = tmp_path / "bad.json"
    body.write_text('{"customerSession": ')
    result = run("session", "update", SESSION, "--payload", str(body))
    assert_input_error(result, "invalid JSON", "line 1", str(body))
    assert run("session", "show", SESSION).exit_code == 1


def test_invalid_json_payload_on_stdin_exits_2(run: Run) -> None:
    result = run("session", "update", SESSION, "--payload", "-", input="{bad")
    assert_input_error(result, "stdin", "invalid JSON")
    assert run("session", "show", SESSION).exit_code == 1


def test_invalid_json_profile_payload_exits_2(run: Run) -> None:
    result = run("profile", "update", PROFILE, "--payload", "-", input="{bad")
    assert_input_error(result, "stdin", "invalid JSON")
    assert_nothing_written(run, session=None)


def test_payload_that_is_not_utf8_exits_2(run: Run, tmp_path: Path) -> None:
    body = tmp_path / "latin1.json"
    body.write_bytes(b'{"customerSession": {"profileId": "caf\xe9"}}')
    result = run("session", "update", SESSION, "--payload", str(body))
    assert_input_error(result, "UTF-8")
    assert run("session", "show", SESSION).exit_code == 1


@pytest.mark.parametrize("body", ["[]", "null", '"text"', "42"])
def test_payload_that_is_not_an_object_exits_2(run: Run, body: str) -> None:
    result = run("session", "update", SESSION, "--payload", "-", input=body)
    assert_input_error(result, "expected an object")
    assert run("session", "show", SESSION).exit_code == 1


@pytest.mark.stateless
def test_payload_not_an_object_message_names_the_body(run: Run) -> None:
    result = run("session", "update", SESSION, "--payload", "-", input="[]")
    message = assert_input_error(result, "expected an object")
    assert message == "refcamp: error: request body: expected an object, got []"


def test_cart_items_not_a_list_exits_2(run: Run) -> None:
    body = {"customerSession": {"profileId": PROFILE, "cartItems": {"sku": "a"}}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession.cartItems", "expected a list")
    assert_nothing_written(run)


def test_cart_item_price_not_a_number_names_the_field(run: Run) -> None:
    item = {"sku": "sku-00004", "quantity": 1, "price": "abc"}
    body = {"customerSession": {"profileId": PROFILE, "cartItems": [item]}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession.cartItems[0].price", "abc")
    assert_nothing_written(run)


def test_cart_item_that_is_not_an_object_names_it(run: Run) -> None:
    body = {"customerSession": {"profileId": PROFILE, "cartItems": ["sku-00004"]}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession.cartItems[0]", "expected an object")
    assert_nothing_written(run)


def test_unknown_state_in_payload_exits_2(run: Run) -> None:
    body = {"customerSession": {"profileId": PROFILE, "state": "bogus"}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession.state", "bogus")
    assert_nothing_written(run)


def test_profile_id_of_the_wrong_type_in_payload_exits_2(run: Run) -> None:
    body = {"customerSession": {"profileId": 42}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession.profileId", "expected a string")
    assert run("session", "show", SESSION).exit_code == 1


def test_unknown_response_content_exits_2(run: Run) -> None:
    body = {"customerSession": {"profileId": PROFILE}, "responseContent": ["everything"]}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "responseContent[0]", "everything")
    assert_nothing_written(run)


def test_missing_payload_file_exits_2(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = run("session", "update", SESSION, "--payload", str(missing))
    assert_input_error(result, "--payload", str(missing), "No such file")
    assert run("session", "show", SESSION).exit_code == 1


def test_missing_profile_payload_file_exits_2(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = run("profile", "update", PROFILE, "--payload", str(missing))
    assert_input_error(result, str(missing))
    assert_nothing_written(run, session=None)


def test_deeply_nested_payload_exits_2(run: Run) -> None:
    depth = 100_000
    result = run("session", "update", SESSION, "--payload", "-", input="[" * depth + "]" * depth)
    assert_input_error(result, "payload stdin", "nested deeper than")
    assert run("session", "show", SESSION).exit_code == 1


def test_attributes_nested_too_deep_exit_2(run: Run) -> None:
    nested: Any = 1
    for _ in range(30):
        nested = [nested]
    body = {"customerSession": {"profileId": PROFILE, "attributes": {"a": nested}}}
    result = run("session", "update", SESSION, "--payload", "-", input=json.dumps(body))
    assert_input_error(result, "customerSession", "nested deeper than 20 levels")
    assert_nothing_written(run)


def test_nan_in_payload_is_refused(run: Run) -> None:
    # Python's json accepts NaN; refcamp must not, or its own --json output would not be JSON.
    body = '{"customerSession": {"profileId": "P1", "attributes": {"x": NaN}}}'
    result = run("session", "update", SESSION, "--payload", "-", "--json", input=body)
    assert_input_error(result, "payload stdin", "NaN is not a JSON number")
    assert_nothing_written(run)


def test_nan_attr_is_refused(run: Run) -> None:
    result = run("profile", "update", PROFILE, "--attr", "x:=NaN", "--json")
    assert_input_error(result, "--attr", "NaN is not a JSON number")
    assert run("profile", "show", PROFILE).exit_code == 1


def test_absurd_prices_are_refused_so_totals_never_overflow(run: Run) -> None:
    # 1e308 is a finite float, but 10 of them are not: amounts stop at 1e15, so no total can.
    result = session_update(run, "--item", "sku=a,price=1e308,quantity=10", "--json")
    assert_input_error(result, "price", "too large a number")
    assert_nothing_written(run)


# --- options and identifiers ---------------------------------------------------------------------


def test_unknown_state_option_exits_2(run: Run) -> None:
    result = session_update(run, "--state", "bogus")
    assert_input_error(result, "--state", "bogus")
    assert_nothing_written(run)


def test_profile_and_anonymous_contradict(run: Run) -> None:
    result = session_update(run, "--anonymous")
    assert_input_error(result, "--profile", "--anonymous")
    assert_nothing_written(run)


def test_profile_and_anonymous_contradict_on_close(run: Run) -> None:
    result = run("session", "close", SESSION, "--profile", PROFILE, "--anonymous")
    assert_input_error(result, "--anonymous")
    assert_nothing_written(run)


def test_profile_id_with_a_control_character_exits_2(run: Run) -> None:
    result = run("profile", "update", "bad\x07id")
    assert_input_error(result, "profile id", "control characters")
    assert run("profile", "show", "bad\x07id").exit_code == 1


def test_profile_option_with_a_control_character_exits_2(run: Run) -> None:
    result = run("session", "update", SESSION, "--profile", "bad\nid")
    assert_input_error(result, "--profile", "control characters")
    assert run("session", "show", SESSION).exit_code == 1


def test_referral_option_with_a_control_character_exits_2(run: Run) -> None:
    result = session_update(run, "--referral", "AB\tCD")
    assert_input_error(result, "--referral", "control characters")
    assert_nothing_written(run)


def test_over_long_profile_id_exits_2(run: Run) -> None:
    long_id = "x" * 1001
    result = run("profile", "update", long_id)
    assert_input_error(result, "profile id", "1000", "1001")
    assert run("profile", "show", long_id).exit_code == 1


def test_over_long_session_id_exits_2(run: Run) -> None:
    long_id = "s" * 1001
    result = run("session", "update", long_id, "--profile", PROFILE)
    assert_input_error(result, "session id", "1001")
    assert run("session", "show", long_id).exit_code == 1
    assert run("profile", "show", PROFILE).exit_code == 1


def test_longest_allowed_profile_id_is_accepted(run: Run) -> None:
    long_id = "x" * 1000
    assert run("profile", "update", long_id).exit_code == 0
    assert run("profile", "show", long_id, "--json").json["profile"]["integrationId"] == long_id


def test_bad_now_exits_2(run: Run) -> None:
    result = run("--now", "not-a-time", "profile", "update", PROFILE)
    assert_input_error(result, "--now", "not-a-time", "ISO 8601")
    assert_nothing_written(run, session=None)


def test_now_without_a_zone_exits_2(run: Run) -> None:
    result = run("--now", "2026-01-01T10:00:00", "profile", "update", PROFILE)
    assert_input_error(result, "--now", "time zone")
    assert_nothing_written(run, session=None)


def test_bad_refcamp_now_exits_2(run: Run) -> None:
    result = run("profile", "update", PROFILE, env={"REFCAMP_NOW": "yesterday"})
    assert_input_error(result, "REFCAMP_NOW", "yesterday")
    assert_nothing_written(run, session=None)


# --- things that do not exist: exit 1 ------------------------------------------------------------


def test_activating_an_unknown_campaign_exits_1(run: Run) -> None:
    result = run("campaign", "activate", "nope")
    assert result.exit_code == 1, result
    assert result.stderr.startswith("refcamp: error:")
    assert "nope" in result.stderr
    assert "medium-referral" in result.stderr  # the known campaigns are listed
    assert run("campaign", "list", "--json").json[0]["state"] == "disabled"


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["session", "show", "nope"], "no customer session 'nope'"),
        (["referral", "show", "nope"], "no referral code 'nope'"),
        (["profile", "show", "nope"], "no customer profile 'nope'"),
        (["loyalty", "ledger", "nope"], "no customer profile 'nope'"),
        (["campaign", "show", "nope"], "no campaign 'nope'"),
    ],
)
def test_showing_something_unknown_exits_1(run: Run, command: list[str], words: str) -> None:
    assert run("profile", "update", "SOMEONE").exit_code == 0  # a state file to look in
    result = run(*command)
    assert result.exit_code == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("refcamp: error:")
    assert words in lines[0]


def test_unknown_program_in_balance_exits_1(run: Run) -> None:
    assert run("profile", "update", PROFILE).exit_code == 0
    result = run("loyalty", "balance", PROFILE, "--program", "nope")
    assert result.exit_code == 1, result
    assert "no loyalty program 'nope'" in result.stderr


# --- closing a cancelled session -----------------------------------------------------------------


def test_closing_a_cancelled_session_exits_1(run: Run) -> None:
    assert run("session", "update", "S", "--profile", "P").exit_code == 0  # created open
    cancelled = run("session", "update", "S", "--state", "cancelled")
    assert cancelled.exit_code == 0, cancelled
    result = run("session", "close", "S")
    assert result.exit_code == 1, result
    assert result.stderr.startswith("refcamp: error:")
    assert "cancelled" in result.stderr
    assert run("session", "show", "S", "--json").json["customerSession"]["state"] == "cancelled"


def test_reopening_a_cancelled_session_exits_1(run: Run) -> None:
    assert run("session", "update", "S", "--profile", "P").exit_code == 0  # created open
    assert run("session", "update", "S", "--state", "cancelled").exit_code == 0
    result = run("session", "update", "S", "--state", "open")
    assert result.exit_code == 1, result
    assert "cancelled" in result.stderr
    assert run("session", "show", "S", "--json").json["customerSession"]["state"] == "cancelled"


# --- campaign files ------------------------------------------------------------------------------

BROKEN_TOML = '[campaign\nid = "broken"\n'

TYPOS_TOML = """\
[campaign]
id = "typos"
name = "Typos"
state = "enabled"
features = ["loyalty"]

[[rules]]
name = "Discount typo"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "set_discont", value = 10 }]

[[rules]]
name = "Bad condition"
when = [{ evnt = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "sample-wallet", points = 1 }]

[[rules]]
name = "Extra key"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "sample-wallet", points = 1 }]
priority = 3

[[rules]]
name = "Unknown program"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "nope-wallet", points = 1 }]
"""


def assert_campaign_error(result: Any) -> list[str]:
    """Exit 2, 'refcamp: error:' first, the problems one per line after it; no traceback."""
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("refcamp: error:"), result
    return lines


def test_broken_toml_names_the_file_and_line(run: Run, campaigns_dir: Path) -> None:
    (campaigns_dir / "broken.toml").write_text(BROKEN_TOML)
    result = run("profile", "update", PROFILE)
    text = "\n".join(assert_campaign_error(result))
    assert "broken.toml" in text
    assert "line 1" in text
    (campaigns_dir / "broken.toml").unlink()
    assert run("profile", "show", PROFILE).exit_code == 1


@pytest.mark.stateless
def test_validate_reports_broken_toml(run: Run, campaigns_dir: Path) -> None:
    (campaigns_dir / "broken.toml").write_text(BROKEN_TOML)
    result = run("campaign", "validate")
    text = "\n".join(assert_campaign_error(result))
    assert "broken.toml" in text
    assert "line" in text


@pytest.mark.stateless
def test_validate_lists_every_problem_with_file_and_rule(run: Run, campaigns_dir: Path) -> None:
    (campaigns_dir / "typos.toml").write_text(TYPOS_TOML)
    result = run("campaign", "validate")
    lines = assert_campaign_error(result)
    assert "4 problems" in lines[0]
    problems = lines[1:]
    assert len(problems) == 4, result
    assert all("typos.toml" in p for p in problems), problems
    expected = [
        ("'Discount typo'", "set_discont"),
        ("'Bad condition'", "evnt"),
        ("'Extra key'", "priority"),
        ("'Unknown program'", "nope-wallet"),
    ]
    for rule, word in expected:
        assert any(rule in p and word in p for p in problems), (rule, word, problems)


@pytest.mark.stateless
def test_validate_json_lists_every_problem(run: Run, campaigns_dir: Path) -> None:
    (campaigns_dir / "typos.toml").write_text(TYPOS_TOML)
    result = run("campaign", "validate", "--json")
    assert result.exit_code == 2, result
    assert result.json["valid"] is False
    assert len(result.json["problems"]) == 4


@pytest.mark.stateless
def test_validate_a_single_file_argument(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "typos.toml"
    path.write_text(TYPOS_TOML)
    result = run("campaign", "validate", str(path))
    lines = assert_campaign_error(result)
    assert any("set_discont" in line for line in lines)


@pytest.mark.stateless
def test_validate_the_shipped_samples_passes(run: Run, campaigns_dir: Path) -> None:
    result = run("campaign", "validate")
    assert result.exit_code == 0, result
    assert "all valid" in result.stdout


def test_request_on_an_invalid_campaign_dir_exits_2_and_writes_nothing(
    run: Run, campaigns_dir: Path
) -> None:
    (campaigns_dir / "typos.toml").write_text(TYPOS_TOML)
    result = run("profile", "update", "X")
    lines = assert_campaign_error(result)
    assert len(lines) == 5
    (campaigns_dir / "typos.toml").unlink()
    assert run("profile", "show", "X").exit_code == 1


def test_session_on_an_invalid_campaign_dir_exits_2_and_writes_nothing(
    run: Run, campaigns_dir: Path
) -> None:
    (campaigns_dir / "typos.toml").write_text(TYPOS_TOML)
    result = run("session", "close", SESSION, "--profile", PROFILE)
    assert_campaign_error(result)
    (campaigns_dir / "typos.toml").unlink()
    assert_nothing_written(run)


def test_missing_campaign_dir_exits_2(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = run("--campaigns", str(missing), "profile", "update", PROFILE)
    assert_input_error(result, "no-such-dir", "does not exist")
    assert_nothing_written(run, session=None)


# --- the state file ------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # a file in the state file's place (tests/test_postgres.py: a database's)
def test_state_file_that_is_not_sqlite_exits_2_and_is_untouched(run: Run, isolated: Path) -> None:
    db = isolated / "state.db"
    db.write_bytes(b"hello")
    result = run("profile", "update", PROFILE)
    assert_input_error(result, "not a SQLite database", str(db))
    assert db.read_bytes() == b"hello"
    assert sorted(p.name for p in isolated.iterdir() if p.name.startswith("state.db")) == [
        "state.db"
    ]


@pytest.mark.sqlite_only  # a file in the state file's place (tests/test_postgres.py: a database's)
def test_state_file_of_someone_else_exits_2_and_is_untouched(run: Run, isolated: Path) -> None:
    db = isolated / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    result = run("profile", "update", PROFILE)
    assert_input_error(result, "not refcamp's")
    assert db.read_bytes() == before
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    assert tables == ["recipes"]


@pytest.mark.stateless
def test_state_file_that_is_a_directory_exits_2(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    result = run("--db", str(folder), "profile", "update", PROFILE)
    assert_input_error(result, "directory")


@pytest.mark.sqlite_only  # a file in the state file's place (tests/test_postgres.py: a database's)
def test_state_file_errors_apply_to_reads_too(run: Run, isolated: Path) -> None:
    (isolated / "state.db").write_bytes(b"hello")
    result = run("referral", "list")
    assert_input_error(result, "not a SQLite database")


# --- no tracebacks -------------------------------------------------------------------------------

BAD_COMMANDS = [
    ["session", "update", SESSION, "--item", "sku=a,price=abc"],
    ["session", "update", SESSION, "--attr", "colour"],
    ["session", "update", SESSION, "--state", "bogus"],
    ["session", "close", SESSION, "--profile", PROFILE, "--anonymous"],
    ["session", "update", SESSION, "--payload", "no-such-file.json"],
    ["profile", "update", "bad\x01id"],
    ["profile", "update", "x" * 1001],
    ["--now", "not-a-time", "profile", "update", PROFILE],
    ["campaign", "activate", "nope"],
    ["session", "show", "nope"],
    ["referral", "show", "nope"],
    ["profile", "show", "nope"],
    ["loyalty", "balance", "nope"],
]


@pytest.mark.parametrize("command", BAD_COMMANDS, ids=lambda c: " ".join(c)[:40])
def test_no_traceback_without_refcamp_debug(run: Run, command: list[str]) -> None:
    assert "REFCAMP_DEBUG" not in os.environ
    result = run(*command)
    assert result.exit_code in (1, 2), result
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert result.stderr.startswith("refcamp: error:")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.sqlite_only  # a file in the state file's place (tests/test_postgres.py: a database's)
@pytest.mark.slow
def test_no_traceback_in_a_real_process(isolated: Path) -> None:
    """The installed entry point, in its own process: one line on stderr, exit 2."""
    db = isolated / "state.db"
    db.write_bytes(b"hello")
    env = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "refcamp", "session", "update", "S", "--item", "sku=a,price=abc"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("refcamp: error:")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "refcamp", "profile", "update", PROFILE],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a SQLite database" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert db.read_bytes() == b"hello"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["session", "show"], "Missing argument 'ID'"),
        (["session", "close", "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
        (["session", "nope"], "No such command 'nope'"),
        (["--now", "2026-01-01", "session", "clos"], "No such command 'clos'"),
        (["loyalty", "add", "P", "--program", "x", "--points", "abc", "--reason", "r"], "--points"),
    ],
)
@pytest.mark.stateless
def test_usage_errors_are_one_line_from_the_real_command(
    isolated: Any, args: list[str], words: str
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "refcamp", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("refcamp: error:") and words in line, line
    assert "--help" in line  # where to look next


@pytest.mark.stateless
def test_a_group_without_a_command_shows_its_help(isolated: Any) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "refcamp", "session"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result
    assert "Usage: refcamp session" in result.stdout
    assert "close" in result.stdout and "cancel" in result.stdout


@pytest.mark.slow
def test_the_real_command_builds_only_the_command_invoked_and_still_helps(isolated: Any) -> None:
    import subprocess
    import sys

    def refcamp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "refcamp", *args], capture_output=True, text=True, timeout=60
        )

    shown = refcamp("--now", "2026-01-01", "session", "close", "--help")
    assert shown.returncode == 0, shown
    assert "Usage: refcamp session close" in shown.stdout and "--referral" in shown.stdout
    closed = refcamp("session", "close", "S1", "--profile", "P", "-q")
    assert (closed.returncode, closed.stdout) == (0, "S1\n"), closed
    listed = refcamp("session", "show", "S1", "--json")
    assert listed.returncode == 0, listed
    assert '"state": "closed"' in listed.stdout


def test_a_lookup_in_the_wrong_case_names_the_stored_id(run: Any) -> None:
    """Profiles, sessions, referral codes and coupons looked up in the wrong letter case: exit 1,
    one line naming the one that exists; an id with no near one gets no hint."""
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    code = run("profile", "update", "ADV", "-q").stdout.strip()
    assert run("session", "update", "SESS-1", "--profile", "ADV").exit_code == 0
    coupon = run("coupon", "create", "--campaign", "spring-coupons", "-q").stdout.strip()
    for args, stored in (
        (["profile", "show", "adv"], "ADV"),
        (["session", "show", "sess-1"], "SESS-1"),
        (["referral", "show", code.lower()], code),
        (["coupon", "show", coupon.lower()], coupon),
    ):
        result = run(*args)
        assert result.exit_code == 1, result
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("refcamp: error: no "), line
        assert line.endswith(f"{args[2]!r} (did you mean {stored}?)"), line
    [line] = run("profile", "show", "NOBODY").stderr.splitlines()
    assert line == "refcamp: error: no customer profile 'NOBODY'"
