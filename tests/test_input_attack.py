"""The command line attacked: a missing option value, numbers in other digits, hostile text in
output, times at the edge of the calendar, campaign files that loop, nest or never end, and
payloads without end. Each is exit 2 with one line naming the problem (promptly: the tests that
could hang have timeouts), changes nothing, and printed user text is inert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from conftest import Run, assert_input_error, ok

from refcamp.cli import app

T0 = "2026-03-01T10:00:00Z"


def refcamp(
    *args: str, input: str | bytes | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real command in its own process (as a shell runs it), with a timeout."""
    done = subprocess.run(
        [sys.executable, "-m", "refcamp", *args],
        input=input.encode() if isinstance(input, str) else input,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **env},
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


# --- item 6: a missing option value never swallows the next option ------------------------------


@pytest.mark.slow
def test_an_empty_profile_never_turns_a_dry_run_into_a_booking(run: Run) -> None:
    """`session close DD1 --profile $P --dry-run` with P empty: the shell passes `--profile
    --dry-run`; it used to close the session for real for a customer named '--dry-run'."""
    for args in (
        ["--profile", "--dry-run"],
        ["--profile=--dry-run"],
        ["--profile", "-q"],
        ["--profile", "--help"],
    ):
        done = refcamp("session", "close", "DD1", *args)
        assert_input_error(done, "--profile needs a value", args[-1].split("=")[-1])
    assert run("session", "show", "DD1").exit_code == 1  # nothing booked
    assert run("profile", "show", "--dry-run").exit_code in (1, 2)


def test_referral_create_never_makes_a_code_for_an_option(run: Run) -> None:
    ok(run("campaign", "list"))  # a state file to look in afterwards
    done = refcamp("referral", "create", "--campaign", "medium-referral", "--advocate", "--json")
    assert_input_error(done, "--advocate needs a value", "--json")
    assert ok(run("referral", "list", "--json")).json == []


@pytest.mark.stateless
def test_a_global_option_never_takes_an_option_as_its_value(isolated: Path) -> None:
    """`refcamp --db $DB --json ...` with DB empty must not make a state file named '--json'."""
    assert_input_error(refcamp("--db", "--json", "session", "show", "X"), "--db needs a value")
    assert_input_error(refcamp("--now", "--db", "x.db", "db", "path"), "--now needs a value")
    assert_input_error(refcamp("--campaigns", "--now", "campaign", "list"), "--campaigns")
    assert not (Path.cwd() / "--json").exists()
    assert not (Path.cwd() / "x.db").exists()


@pytest.mark.stateless
def test_an_empty_path_is_not_the_current_folder(run: Run, tmp_path: Path) -> None:
    """`--campaigns "$DIR"` with DIR empty read the current folder's campaigns (none), and
    `--db ""` named the current folder."""
    assert_input_error(refcamp("--campaigns", "", "campaign", "list"), "--campaigns needs a value")
    assert_input_error(refcamp("--db", "", "db", "path"), "--db needs a value")
    assert_input_error(refcamp("replay", str(tmp_path / "log"), "--out", ""), "--out needs a value")


def every_command() -> Iterator[tuple[list[str], Any]]:
    """Every command of refcamp, with the words that invoke it."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                yield from walk(child, [*path, name])
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), [])


VALUE_OPTIONS = [
    pytest.param(path, option.opts[0], id=" ".join([*path, option.opts[0]]))
    for path, command in every_command()
    if path != ["serve"]  # it would listen (tested in its own process below)
    for option in command.params
    if option.param_type_name == "option" and not option.is_flag
]


@pytest.mark.parametrize(("path", "option"), VALUE_OPTIONS)
def test_every_option_of_every_command_refuses_an_option_as_its_value(
    run: Run, path: list[str], option: str
) -> None:
    """Generic, so commands added later are covered: the value is another option's name."""
    assert run("campaign", "list").exit_code == 0  # a state file to check afterwards
    for value in ("--help", f"{option}"):
        result = run(*path, option, value)
        assert result.exit_code == 2, result
        assert f"{option} needs a value" in result.stderr, result
    assert run("db", "check").exit_code == 0


@pytest.mark.stateless
def test_serve_refuses_an_option_as_the_host(isolated: Path) -> None:
    assert_input_error(refcamp("serve", "--host", "--port", timeout=30), "--host needs a value")


# --- item 12: numbers are ASCII digits ------------------------------------------------------------


@pytest.mark.parametrize("points", ["1_000", " 10", "10 ", "١٠", "１０", "10.0", "nan"])
def test_points_on_the_command_line_are_plain_digits(run: Run, points: str) -> None:
    done = refcamp(
        "loyalty", "add", "P", "--program", "sample-wallet", "--points", points, "--reason", "r"
    )
    assert_input_error(done, "--points", "whole number", "0-9")
    assert run("loyalty", "ledger", "P").exit_code == 1  # no such customer: nothing booked


@pytest.mark.parametrize("value", ["nan", "inf", "Infinity", "1_0.5"])
@pytest.mark.stateless
def test_a_point_value_is_a_finite_plain_number(run: Run, value: str) -> None:
    """`--point-value nan` printed NaN in --json, which is not JSON."""
    for command in (["campaign", "stats", "medium-referral"], ["simulate", "--days", "1"]):
        result = run(*command, "--point-value", value, "--json")
        assert result.exit_code == 2, result
        assert "--point-value" in result.stderr and result.stdout == "", result


def test_attribute_values_in_other_digits_stay_text(run: Run) -> None:
    """Python's int() and float() take '1_000' and digits of other scripts (Arabic-Indic, full
    width); a typed --attr value does not."""
    shown = ok(
        run(
            "profile", "update", "P", "--attr", "a=1_000", "--attr", "b=١٠",
            "--attr", "c=１０", "--attr", "d=1.5", "--attr", "e=-3", "--attr", "f=1e3",
            "--attr", "g= 7", "--json",
        )
    ).json  # fmt: skip
    assert shown["customerProfile"]["attributes"] == {
        "a": "1_000", "b": "١٠", "c": "１０", "d": 1.5, "e": -3, "f": 1000.0, "g": " 7",
    }  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    ["sku=a,quantity=1_000", "sku=a,quantity=١", "sku=a,quantity=１", "sku=a,price=1_0"],
)
def test_cart_items_take_plain_digits(run: Run, spec: str) -> None:
    result = run("session", "update", "S1", "--profile", "P", "--item", spec)
    assert result.exit_code == 2, result
    assert "--item" in result.stderr and "number" in result.stderr, result
    assert run("session", "show", "S1").exit_code == 1


# --- item 11: printed user text is inert ----------------------------------------------------------

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\x00[/red][bold]x"


def assert_inert(text: str) -> None:
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
        assert char not in text, repr(text)


@pytest.mark.both_engines
@pytest.mark.slow
def test_hostile_text_in_tables_and_lines_is_shown_not_obeyed(run: Run, engine: str) -> None:
    hostile = HOSTILE if engine == "sqlite" else HOSTILE.replace("\x00", "")  # see below
    ok(
        run(
            "loyalty",
            "add",
            "P",
            "--program",
            "sample-wallet",
            "--points",
            "5",
            "--reason",
            hostile,
        )
    )
    ok(run("profile", "update", "P", "--attr", f"k={HOSTILE}", "--attr", "m=[bold]x[/bold]"))
    for command in (["loyalty", "ledger", "P"], ["profile", "show", "P"]):
        shown = ok(run(*command)).stdout
        assert_inert(shown)
        assert "\\x1b]0;owned\\x07" in shown.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[bold]x[/bold]" in ok(run("profile", "show", "P")).stdout  # not read as markup
    # JSON keeps the exact text (json.dumps escapes what must be).
    attributes = ok(run("profile", "show", "P", "--json")).json["profile"]["attributes"]
    assert attributes["k"] == HOSTILE
    entry = ok(run("loyalty", "ledger", "P", "--json")).json["data"][0]
    assert entry["name"] == hostile


@pytest.mark.both_engines
def test_text_with_nul_is_refused_by_postgresql_and_nothing_is_written(
    run: Run, engine: str
) -> None:
    """PostgreSQL's text never holds the NUL character (SQLite's does): such text is refused as
    input there, with one line, and the request writes nothing. (In attributes it is kept: they
    are stored as JSON, where it is written \\u0000.)"""
    if engine == "sqlite":
        return
    done = run("loyalty", "add", "P", "--program", "sample-wallet", "--points", "5",
               "--reason", "a\x00b")  # fmt: skip
    assert done.exit_code == 2, done
    assert done.stderr == (
        "refcamp: error: text with the NUL character (\\x00) cannot be stored in PostgreSQL\n"
    )
    assert run("profile", "show", "P").exit_code == 1  # no customer made either


def test_brackets_in_ids_are_text_not_markup(run: Run) -> None:
    """`profile update '[/red]X'` crashed with Rich's MarkupError."""
    for command in (["profile", "update", "[/red]X"], ["profile", "show", "[/red]X"]):
        result = ok(run(*command))
        assert "internal error" not in result.stderr
    assert "[/red]X" in ok(run("profile", "show", "[/red]X")).stdout
    ok(run("session", "update", "[b]S[/b]", "--profile", "[/red]X"))
    assert "Customer session [b]S[/b]" in ok(run("session", "show", "[b]S[/b]")).stdout


def test_hostile_text_in_campaign_files_is_inert_in_lists_and_errors(
    run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    name = "\\u001b[2Jevil [/red] \\u202e"
    (folder / "x.toml").write_text(f'[campaign]\nid = "x"\nname = "{name}"\n')
    for command in (["campaign", "list"], ["campaign", "show", "x"]):
        shown = ok(run("--campaigns", str(folder), *command)).stdout
        assert_inert(shown)
        assert "[/red]" in shown
    (folder / "x.toml").write_text('[campaign]\nid = "x"\n"\\u001b]0;t\\u0007" = 1\n')
    done = refcamp("--campaigns", str(folder), "campaign", "list")
    assert done.returncode == 2, done
    assert_inert(done.stderr)
    assert "\\x1b]0;t\\x07" in done.stderr


# --- item 9: times at the edge of the calendar ----------------------------------------------------

EARLY = "0001-01-01T00:30:00+01:00"  # the year 0 in UTC
LATE = "9999-12-31T23:30:00-01:00"  # the year 10000 in UTC


def input_error_line(result: Any, *words: str) -> str:
    """Exit 2 and exactly one error line (in-process: the `run` fixture)."""
    assert result.exit_code == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refcamp: error: "), result
    assert "internal error" not in lines[0], result
    for word in words:
        assert word in lines[0], result
    return lines[0]


@pytest.mark.parametrize("moment", [EARLY, LATE])
def test_times_outside_the_calendar_in_utc_are_input_errors(run: Run, moment: str) -> None:
    ok(run("campaign", "list"))  # a state file to look in afterwards
    outside = "outside the years 1 to 9999"
    input_error_line(run("--now", moment, "profile", "update", "P"), "--now", outside)
    input_error_line(run("profile", "update", "P", env={"REFCAMP_NOW": moment}), "REFCAMP_NOW")
    for option in ("--starts", "--expires"):
        result = run(
            "referral", "create", "--campaign", "medium-referral", "--advocate", "A", option, moment
        )
        input_error_line(result, option, outside)
        result = run("coupon", "create", "--campaign", "spring-coupons", option, moment)
        input_error_line(result, option, outside)
    assert ok(run("referral", "list", "--json")).json == []
    assert run("profile", "show", "P").exit_code == 1


@pytest.mark.parametrize("moment", [EARLY, LATE])
def test_a_replay_line_outside_the_calendar_fails_alone(
    run: Run, tmp_path: Path, moment: str
) -> None:
    log = tmp_path / "log.jsonl"
    lines = [
        {"path": "/v2/customer_profiles/P1", "body": {"attributes": {}}, "now": moment},
        {"path": "/v2/customer_profiles/P2", "body": {"attributes": {}}, "now": T0},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("replay", str(log))
    assert result.exit_code == 1, result  # a bad line: reported, the rest applied
    assert "outside the years 1 to 9999" in result.stderr, result
    assert "internal error" not in result.stderr + result.stdout, result
    assert run("profile", "show", "P1").exit_code == 1
    assert ok(run("profile", "show", "P2"))


def test_an_empty_now_is_an_error_not_the_real_clock(run: Run) -> None:
    """`--now "$T"` with T empty silently used the real clock."""
    input_error_line(run("--now", "", "profile", "update", "P"), "--now", "''")
    input_error_line(run("profile", "update", "P", env={"REFCAMP_NOW": ""}), "REFCAMP_NOW")
    input_error_line(run("--now", " ", "db", "path"), "--now")
    assert run("profile", "show", "P").exit_code == 1


@pytest.mark.stateless
def test_a_campaign_time_outside_the_calendar_is_a_campaign_problem(
    run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "early"
    folder.mkdir()
    (folder / "early.toml").write_text(
        f'[campaign]\nid = "early"\nstate = "enabled"\nstart = {EARLY}\nend = {LATE}\n'
    )
    result = run("--campaigns", str(folder), "campaign", "list")
    assert result.exit_code == 2, result
    assert "start: 0001-01-01T00:30:00+01:00 is outside the years 1 to 9999" in result.stderr
    assert "end: 9999-12-31T23:30:00-01:00 is outside" in result.stderr
    assert "internal error" not in result.stderr


# --- item 9: campaign folders that nest, loop or never end ----------------------------------------


def campaign_folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "hostile-campaigns"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text)
    return folder


def nested_rule(depth: int, combinator: str = "all") -> str:
    condition = '{ event = "talon_session_closed" }'
    for _ in range(depth):
        condition = f"{{ {combinator} = [{condition}] }}"
    return (
        '[campaign]\nid = "deep"\nstate = "enabled"\n\n[[rules]]\nname = "deep"\n'
        f'when = [{condition}]\nthen = [{{ effect = "show_notification", title = "x" }}]\n'
    )


@pytest.mark.parametrize("depth", [40, 300, 3000])
@pytest.mark.stateless
def test_conditions_nested_absurdly_deep_are_a_campaign_problem(tmp_path: Path, depth: int) -> None:
    """300 levels made a RecursionError (internal error); 3000 exhaust TOML's own parser."""
    folder = campaign_folder(tmp_path, deep=nested_rule(depth))
    for command in (["campaign", "list"], ["session", "close", "S", "--profile", "P"]):
        done = refcamp("--campaigns", str(folder), *command)
        assert done.returncode == 2, done
        assert "nested deeper than 32 levels" in done.stderr, done
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_conditions_nested_a_sensible_depth_still_work(run: Run, tmp_path: Path) -> None:
    folder = campaign_folder(tmp_path, deep=nested_rule(10, "any"))
    closed = ok(
        run("--campaigns", str(folder), "session", "close", "S", "--profile", "P", "--json")
    )
    assert [e["effectType"] for e in closed.json["effects"]] == ["showNotification"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.stateless
def test_nan_and_inf_in_campaign_files_are_refused(run: Run, tmp_path: Path, value: str) -> None:
    folder = campaign_folder(
        tmp_path,
        odd=(
            '[campaign]\nid = "odd"\nstate = "enabled"\n\n[[rules]]\nname = "r"\n'
            f'when = [{{ attribute = "session.total", op = ">", value = {value} }}]\n'
            f'then = [{{ effect = "custom_effect", name = "e", payload = {{ x = {value} }} }}]\n'
        ),
    )
    result = run("--campaigns", str(folder), "campaign", "validate")
    assert result.exit_code == 2, result
    assert f"rules[0].when[0].value: {value.lstrip('+')} is not a number" in result.stderr
    assert "rules[0].then[0].payload.x" in result.stderr


@pytest.mark.stateless
def test_a_symlink_loop_among_campaign_files_is_a_clear_error(tmp_path: Path) -> None:
    folder = campaign_folder(tmp_path)
    (folder / "a.toml").symlink_to("b.toml")
    (folder / "b.toml").symlink_to("a.toml")
    done = refcamp("--campaigns", str(folder), "campaign", "list", timeout=30)
    assert done.returncode == 2, done
    assert "a.toml: cannot read: Too many levels of symbolic links" in done.stderr, done
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    assert_input_error(refcamp("--campaigns", str(loop), "campaign", "list"), "symbolic links")


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.stateless
@pytest.mark.slow
def test_a_campaign_file_that_is_not_a_regular_file_is_refused_promptly(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO named x.toml made every command wait for a writer; /dev/zero would never end."""
    folder = campaign_folder(tmp_path)
    target = folder / "x.toml"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    for command in (["campaign", "list"], ["session", "close", "S", "--profile", "P"]):
        done = refcamp("--campaigns", str(folder), *command, timeout=30)
        assert done.returncode == 2, done
        assert "x.toml: cannot read: not a regular file" in done.stderr, done
    fifo = tmp_path / "campaigns.fifo"
    os.mkfifo(fifo)
    assert_input_error(refcamp("--campaigns", str(fifo), "campaign", "list", timeout=30), "neither")


# --- item 9: payloads have a size limit ---------------------------------------------------------


@pytest.mark.slow
def test_a_payload_on_stdin_is_read_up_to_1_mib(run: Run) -> None:
    """`yes | refcamp session update X --payload -` read without end."""
    endless = b"y\n" * (4 << 20)  # 8 MiB, as `yes` would give (only 1 MiB and a byte are read)
    done = refcamp("session", "update", "X", "--payload", "-", input=endless, timeout=30)
    assert_input_error(done, "payload stdin: larger than 1 MiB")
    body = {"customerSession": {"profileId": "P", "attributes": {"pad": "x" * 1_000_000}}}
    done = refcamp("session", "update", "X", "--payload", "-", input=json.dumps(body))
    assert done.returncode == 0, done  # just under the limit is fine
    assert run("db", "check").exit_code == 0


def test_a_payload_file_is_read_up_to_1_mib(run: Run, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"attributes": {"pad": "x" * (1 << 20)}}))
    input_error_line(run("profile", "update", "P", "--payload", str(big)), "larger than 1 MiB")
    done = refcamp("profile", "update", "P", "--payload", "/dev/zero", timeout=30)
    assert_input_error(done, "larger than 1 MiB")
    assert run("profile", "show", "P").exit_code == 1


# --- item 12: accepted though wrong ---------------------------------------------------------------

INVISIBLE_IDS = [
    " ",
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\u202e",  # right-to-left override
    "\u200c\u200d",  # joiners only
    "\u3164",  # Hangul filler
    "alice\u200b",  # looks like alice
    "\u202ecilA",  # reads as Alic... reversed
    "a\u2066b",
    "x\ufeff",
]


@pytest.mark.parametrize("bad", INVISIBLE_IDS, ids=lambda s: s.encode("unicode_escape").decode())
def test_invisible_ids_are_refused_everywhere(run: Run, tmp_path: Path, bad: str) -> None:
    checks: list[tuple[list[str], str]] = [
        (["profile", "update", bad], "profile id"),
        (["session", "update", bad, "--profile", "P"], "session"),
        (["session", "update", "S", "--profile", bad], "--profile"),
        (["session", "update", "S", "--profile", "P", "--referral", bad], "--referral"),
        (["session", "update", "S", "--profile", "P", "--coupon", bad], "--coupon"),
        (["event", "track", "e", "--profile", bad], "profile"),
        (["referral", "create", "--campaign", "medium-referral", "--advocate", bad], "--advocate"),
        (["loyalty", "add", bad, "--program", "sample-wallet", "--points", "1", "--reason", "r"],
         "profile"),
    ]  # fmt: skip
    for args, where in checks:
        result = run(*args)
        message = input_error_line(result)
        assert where in message, result
        assert "visible" in message or "invisible" in message, result
    body = {"customerSession": {"profileId": "P", "couponCodes": [bad]}}
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps(body))
    result = run("session", "update", "S", "--payload", str(payload))
    input_error_line(result, "customerSession.couponCodes[0]")
    assert ok(run("referral", "list", "--json")).json == []
    assert run("profile", "show", "P").exit_code == 1


def test_visible_ids_in_any_script_still_work(run: Run) -> None:
    for good in ("Ann Lee", "عبد الله", "👨\u200d👩\u200d👧", "ज़\u200dर", "x y"):
        ok(run("profile", "update", good))
        assert ok(run("profile", "show", good, "--json")).json["profile"]["integrationId"] == good


@pytest.mark.stateless
@pytest.mark.slow
def test_the_format_characters_refused_are_unicodes_cf_but_the_joiners() -> None:
    import unicodedata

    from refcamp.payloads import FORMAT

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        wanted = category == "Cf" and char not in "\u200c\u200d"
        found = FORMAT.match(char) is not None
        assert found == wanted or (found and category == "Cn"), hex(code)  # Cn: newer Unicode


def session_body(tmp_path: Path, session: dict[str, Any]) -> str:
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps({"customerSession": session}))
    return str(payload)


def test_a_negative_additional_cost_is_refused_like_a_negative_price(
    run: Run, tmp_path: Path
) -> None:
    payload = session_body(
        tmp_path, {"profileId": "P", "additionalCosts": {"shipping": {"price": -5}}}
    )
    message = input_error_line(run("session", "close", "S", "--payload", payload))
    assert "customerSession.additionalCosts.shipping.price: must not be negative" in message
    assert run("session", "show", "S").exit_code == 1


def test_a_key_given_twice_in_different_case_is_refused(run: Run, tmp_path: Path) -> None:
    """`"state": "open", "State": "closed"` booked; which one was meant cannot be known."""
    payload = tmp_path / "body.json"
    payload.write_text(
        '{"customerSession": {"profileId": "P", "state": "open", "State": "closed"}}'
    )
    message = input_error_line(run("session", "update", "S", "--payload", str(payload)))
    assert "customerSession.State: given twice, as 'state' and as 'State'" in message
    payload.write_text('{"attributes": {}, "Attributes": {"x": 1}}')
    input_error_line(run("profile", "update", "P", "--payload", str(payload)), "Attributes")
    assert run("session", "show", "S").exit_code == 1
    assert run("profile", "show", "P").exit_code == 1
    # Attribute names are data: two that differ in case are two attributes.
    payload.write_text('{"attributes": {"tier": "a", "Tier": "b"}}')
    ok(run("profile", "update", "P", "--payload", str(payload)))


def test_a_friend_is_not_the_advocate(run: Run) -> None:
    ok(run("campaign", "list"))  # a state file to look in afterwards
    result = run("referral", "create", "--campaign", "medium-referral", "--advocate", "A",
                 "--friend", "A")  # fmt: skip
    input_error_line(result, "--friend", "advocate")
    assert ok(run("referral", "list", "--json")).json == []


@pytest.mark.stateless
def test_a_friend_is_not_the_advocate_in_a_body() -> None:
    from refcamp.errors import InputError
    from refcamp.payloads import read_referral_body

    body = {"campaignId": 1, "advocateProfileIntegrationId": "A", "friendProfileIntegrationId": "A"}
    with pytest.raises(InputError, match="friendProfileIntegrationId: is the advocate"):
        read_referral_body(body)
    assert read_referral_body({**body, "friendProfileIntegrationId": "B"}).friend == "B"
