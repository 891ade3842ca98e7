"""What commands do with input and state, as a new user meets it (issue 15): a dry run prints
what the real run prints, typed values stay as typed, --item is key=value,... or refused, a
mistyped --db creates nothing, -q never goes silent without a word, codes only for campaigns that
have the feature, one story for a disabled campaign, one rule for unknown customers, and a broken
campaign file blocks only the commands that evaluate rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Run, assert_input_error


def assert_check_clean(run: Run, *options: str) -> None:
    checked = run(*options, "db", "check")
    assert checked.exit_code == 0, checked


def copy_state(run: Run, source: str, target: str) -> None:
    """A whole copy of a state, on either engine (refcamp db copy, checked on both sides)."""
    copied = run("db", "copy", source, target)
    assert copied.exit_code == 0, copied


# --- 1: a dry run prints exactly what the real run prints --------------------------------------


@pytest.fixture
def story(run: Run, state_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both sample campaigns running, an advocate, an open session S1, closed sessions S2 and S3."""
    monkeypatch.setenv("REFCAMP_SEED", "7")
    monkeypatch.setenv("REFCAMP_NOW", "2026-03-01T10:00:00Z")
    for args in (
        ("campaign", "activate", "medium-referral"),
        ("campaign", "activate", "spring-coupons"),
        ("profile", "update", "ADV"),
        ("session", "update", "S1", "--profile", "X1", "--item", "sku=a,price=40"),
        ("session", "close", "S2", "--profile", "X1", "--item", "sku=a,price=40"),
        ("session", "close", "S3", "--profile", "X1", "--item", "sku=b,price=60"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result
    return state_url


DRY_RUNS = [
    ("profile", "update", "NEWDRY", "--audience-add", "vip"),
    ("profile", "update", "X1", "--attr", "colour=red", "--audience-add", "vip"),
    ("session", "close", "--profile", "STAT1", "--item", "sku=a,price=40"),
    ("session", "close", "S1"),
    ("session", "update", "S1", "--item", "sku=c,price=5"),
    ("session", "cancel", "S2"),
    ("session", "reopen", "S3"),
    ("session", "return", "S3", "--item", "position=0"),
    ("event", "track", "review_posted", "--profile", "X1"),
]


@pytest.mark.parametrize("shape", [("--json",), ()], ids=["json", "table"])
@pytest.mark.parametrize("command", DRY_RUNS, ids=[" ".join(c[:2]) + f" {c[2]}" for c in DRY_RUNS])
def test_a_dry_run_prints_what_the_real_run_prints(
    run: Run,
    story: str,
    new_state: Callable[[], str],
    command: tuple[str, ...],
    shape: tuple[str, ...],
) -> None:
    dry_db, real_db = new_state(), new_state()
    copy_state(run, story, dry_db)
    copy_state(run, story, real_db)
    dry = run("--db", dry_db, *command, *shape, "--dry-run")
    real = run("--db", real_db, *command, *shape)
    assert dry.exit_code == real.exit_code == 0, (dry, real)
    if shape:
        shown = dry.json
        # reopen's JSON is reopenCustomerSession's body, effects alone
        assert shown.pop("dryRun", command[1] == "reopen") is True
        assert shown == real.json
        assert dry.stderr == real.stderr
    else:
        assert dry.stdout == real.stdout
        assert dry.stderr == real.stderr + "Dry run: nothing was saved.\n"
    assert_check_clean(run, "--db", dry_db)
    assert_check_clean(run, "--db", real_db)


# --- 0b: --attr values stay as typed unless they are exactly a JSON number -----------------------


def test_attr_values_that_are_not_plain_json_numbers_stay_text(run: Run) -> None:
    result = run(
        "profile",
        "update",
        "Z",
        *("--attr", "zip=01067", "--attr", "phone=+491511234567", "--attr", "sku=1_000"),
        *("--attr", "sp= 42 ", "--attr", "half=.5", "--attr", "one=1.", "--attr", "flag=True"),
        *("--attr", "n=42", "--attr", "x=-1.5e3", "--attr", "zero=0", "--attr", "yes=true"),
        *("--attr", "big=12345678901234567890"),
        "--json",
    )
    assert result.exit_code == 0, result
    assert result.json["customerProfile"]["attributes"] == {
        "zip": "01067",
        "phone": "+491511234567",
        "sku": "1_000",
        "sp": " 42 ",
        "half": ".5",
        "one": "1.",
        "flag": "True",
        "big": "12345678901234567890",
        "n": 42,
        "x": -1500.0,
        "zero": 0,
        "yes": True,
    }


def test_a_rule_on_a_zip_with_a_leading_zero_fires(run: Run, tmp_path: Path) -> None:
    campaigns = tmp_path / "zips"
    campaigns.mkdir()
    (campaigns / "zip.toml").write_text(
        """
[campaign]
id = "dresden"
name = "Dresden"
state = "enabled"

[[rules]]
name = "Dresden welcome"
when = [
  { event = "talon_profile_created" },
  { attribute = "profile.attributes.zip", op = "==", value = "01067" },
]
then = [{ effect = "add_to_audience", audience = "dresden" }]
"""
    )
    result = run(
        "--campaigns", str(campaigns), "profile", "update", "Z", "--attr", "zip=01067", "--json"
    )
    assert result.exit_code == 0, result
    assert [e["effectType"] for e in result.json["effects"]] == ["addToAudience"], result


@pytest.mark.parametrize("price", ["010", "+10", "1_0", " 10", "10 ", ".5", "1e999"])
def test_an_item_price_that_is_not_a_plain_number_is_refused(run: Run, price: str) -> None:
    result = run("session", "update", "S1", "--profile", "P1", "--item", f"sku=a,price={price}")
    assert_input_error(result, "price", "number")
    assert run("session", "show", "S1").exit_code == 1


# --- 16: --item is key=value,... or refused ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sku=a price=10", ["'sku=a price=10' is not key=value", "commas", "--payload"]),
        ("sku=a;price=10", ["'sku=a;price=10' is not key=value", "sku=A1,price=10", "--payload"]),
        ("sku=a, price=10", ["' price=10' is not key=value", "--payload"]),
        ("sku=a,price=10 ,quantity=2", ["price must be a number", "'10 '"]),
        ("sku=a=b,price=10", ["'sku=a=b' is not key=value", "--payload"]),
        ("sku=a", ["price is required"]),
        ("sku=a,quantity=2", ["price is required"]),
        ("sku=a,price=10,price=20", ["price is given twice"]),
        ("sku=a,SKU=b,price=1", ["sku is given twice"]),
        ("sku=a,price=10,", ["'' is not key=value"]),
    ],
)
@pytest.mark.parametrize("command", ["update", "close"])
def test_an_item_that_is_not_key_value_pairs_is_refused(
    run: Run, spec: str, words: list[str], command: str
) -> None:
    result = run("session", command, "S1", "--profile", "P1", "--item", spec)
    assert_input_error(result, f"--item {spec!r}", *words)
    assert run("session", "show", "S1").exit_code == 1
    assert run("profile", "show", "P1").exit_code == 1


def test_a_free_item_says_price_0(run: Run) -> None:
    result = run("session", "update", "S1", "--profile", "P1", "--item", "sku=a,price=0", "--json")
    assert result.exit_code == 0, result
    assert result.json["customerSession"]["cartItems"][0]["price"] == 0


# --- 3: a mistyped --db creates nothing --------------------------------------------------------

READ_ONLY = [
    ("profile", "show", "A"),
    ("profile", "show", "A", "--json"),
    ("session", "show", "S1"),
    ("referral", "list"),
    ("referral", "list", "--json"),
    ("referral", "show", "ABCD-EFGH"),
    ("coupon", "list"),
    ("coupon", "show", "SPRING-AAAA"),
    ("loyalty", "balance", "A"),
    ("loyalty", "balance", "A", "--program", "1"),
    ("loyalty", "ledger", "A"),
    ("db", "check"),
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
@pytest.mark.parametrize("given", ["option", "environment"])
@pytest.mark.stateless
def test_a_read_only_command_on_a_missing_state_file_says_so_and_creates_nothing(
    run: Run, tmp_path: Path, command: tuple[str, ...], given: str
) -> None:
    for missing in (tmp_path / "nonexistent" / "dir" / "x.db", tmp_path / "typo.db"):
        if given == "option":
            result = run("--db", str(missing), *command)
        else:
            result = run(*command, env={"REFCAMP_DB": str(missing)})
        assert result.exit_code == 1, result
        assert result.stdout == ""
        assert result.stderr == (
            f"refcamp: error: no state file at {missing}: nothing is recorded there yet "
            "(a mistyped --db or REFCAMP_DB?)\n"
        )
        assert not (tmp_path / "nonexistent").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "work"]


@pytest.mark.parametrize("given", ["option", "environment"])
@pytest.mark.stateless
def test_a_writing_command_makes_no_missing_folders(run: Run, tmp_path: Path, given: str) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    args = ("profile", "update", "A")
    if given == "option":
        result = run("--db", str(missing), *args)
    else:
        result = run(*args, env={"REFCAMP_DB": str(missing)})
    assert_input_error(result, f"cannot create state file {missing}", "does not exist")
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.stateless
def test_a_writing_command_creates_a_named_state_file_in_an_existing_folder(
    run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "new.db"
    result = run("--db", str(target), "profile", "update", "A")
    assert result.exit_code == 0, result
    assert target.is_file()
    assert run("--db", str(target), "profile", "show", "A").exit_code == 0
    assert_check_clean(run, "--db", str(target))


@pytest.mark.stateless
def test_the_default_state_file_gets_its_folders(run: Run, tmp_path: Path) -> None:
    result = run("profile", "update", "A", env={"REFCAMP_DB": ""})
    assert result.exit_code == 0, result
    assert (tmp_path / "home" / "data" / "refcamp" / "refcamp.db").is_file()


# --- 11: -q never goes silent without a word --------------------------------------------------


def test_quiet_registration_of_a_known_customer_says_why_no_code(active: Run) -> None:
    first = active("profile", "update", "NEWCUSTOMER", "-q")
    assert first.exit_code == 0, first
    assert first.stdout.strip() and first.stderr == ""
    again = active("profile", "update", "NEWCUSTOMER", "-q")
    assert again.exit_code == 0, again
    assert again.stdout == ""
    assert again.stderr.startswith("note: no code was created: rule 'Generate a referral code' ")
    assert "did not fire: Customer Profile Registration — saw talon_profile_updated" in again.stderr


def test_quiet_registration_with_the_campaign_disabled_says_why_no_code(run: Run) -> None:
    result = run("profile", "update", "NEWCUSTOMER", "-q")
    assert result.exit_code == 0, result
    assert result.stdout == ""
    assert "note: no code was created: medium-referral is disabled" in result.stderr


def test_quiet_registration_without_rules_says_why_no_code(active: Run) -> None:
    result = active("profile", "update", "NEWCUSTOMER", "-q", "--no-rules")
    assert result.stdout == ""
    assert result.stderr == "note: no code was created: the rules did not run (--no-rules)\n"


@pytest.mark.parametrize("command", ["update", "close"])
def test_an_empty_referral_option_is_refused_like_an_empty_profile(
    active: Run, command: str
) -> None:
    result = active("session", command, "S1", "--profile", "P1", "--referral", "")
    assert_input_error(result, "--referral", "got 0")
    assert active("session", "show", "S1").exit_code == 1


# --- 4: profile update -q prints every code it created -----------------------------------------


def test_quiet_registration_prints_every_created_code_coupons_included(active: Run) -> None:
    assert active("campaign", "activate", "spring-coupons").exit_code == 0
    result = active("profile", "update", "NEWCUSTOMER", "-q")
    assert result.exit_code == 0, result
    codes = result.stdout.splitlines()
    assert len(codes) == 2, result
    referral, coupon = codes
    assert active("referral", "show", referral).exit_code == 0
    assert coupon.startswith("SPRING-")
    shown = active("coupon", "show", coupon, "--json")
    assert shown.exit_code == 0, shown
    assert result.stderr == ""


@pytest.mark.stateless
def test_profile_update_help_says_what_quiet_prints(run: Run) -> None:
    shown = " ".join(run("profile", "update", "--help").stdout.split())
    assert "prints only the codes created (referral codes, then coupons)" in shown


# --- 5: codes only for a campaign with that feature --------------------------------------------


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ("referral", "create", "--campaign", "spring-coupons", "--advocate", "ADV"),
            "campaign spring-coupons has no referrals feature, so it takes no referral codes "
            "(its features: coupons)",
        ),
        (
            (
                "referral",
                "create",
                "--campaign",
                "spring-coupons",
                "--advocate",
                "ADV",
                "--code",
                "MY-CODE",
            ),
            "campaign spring-coupons has no referrals feature",
        ),
        (
            ("coupon", "create", "--campaign", "medium-referral"),
            "campaign medium-referral has no coupons feature, so it takes no coupons "
            "(its features: referrals, loyalty)",
        ),
        (
            ("coupon", "create", "--campaign", "medium-referral", "--code", "MY-COUPON"),
            "campaign medium-referral has no coupons feature",
        ),
    ],
)
def test_codes_for_a_campaign_without_that_feature_are_refused(
    run: Run, command: tuple[str, ...], message: str
) -> None:
    assert_input_error(run(*command), message)
    assert run("referral", "list", "--json").json == []
    assert run("coupon", "list", "--json").json == []
    assert run("profile", "show", "ADV").exit_code == 1


# --- 6: a disabled campaign tells one story ---------------------------------------------------


def test_a_code_with_every_campaign_disabled_tells_one_story(run: Run) -> None:
    result = run("session", "close", "S1", "--profile", "F", "--referral", "ABCD-EFGH")
    assert result.exit_code == 0, result
    assert "ReferralNotFound" in result.stdout
    assert "No running campaign reacted" not in result.stderr
    assert (
        "No campaign rule ran — medium-referral is disabled (refcamp campaign activate "
        "medium-referral)" in result.stderr
    )
    assert "only the codes were checked (above)" in result.stderr


def test_a_code_of_a_disabled_campaign_tells_one_story(active: Run) -> None:
    code = active("profile", "update", "ADV", "-q").stdout.strip()
    assert active("campaign", "deactivate", "medium-referral").exit_code == 0
    result = active("session", "close", "S1", "--profile", "F", "--referral", code)
    assert result.exit_code == 0, result
    assert "ReferralPartOfNotRunningCampaign" in result.stdout
    assert "No running campaign reacted" not in result.stderr
    assert "No campaign rule ran — medium-referral is disabled" in result.stderr
    assert_check_clean(active)


def test_nothing_at_all_with_every_campaign_disabled_still_says_none_reacted(run: Run) -> None:
    result = run("session", "close", "S1", "--profile", "F", "--item", "sku=a,price=5")
    assert result.exit_code == 0, result
    assert "No running campaign reacted — medium-referral is disabled" in result.stderr


# --- 17: one rule for commands naming a customer ----------------------------------------------
# What gives a customer something creates an unknown one (and says so); what reads or takes
# from a customer exits 1 for an unknown one.


def test_loyalty_add_to_an_unknown_customer_says_it_creates_them(run: Run) -> None:
    args = ("--program", "sample-wallet", "--points", "5", "--reason", "goodwill")
    result = run("loyalty", "add", "NEWCUSTOMR", *args)
    assert result.exit_code == 0, result
    assert result.stderr == "note: NEWCUSTOMR was not a customer yet: the profile is created\n"
    assert run("profile", "show", "NEWCUSTOMR").exit_code == 0
    again = run("loyalty", "add", "NEWCUSTOMR", *args)
    assert again.exit_code == 0, again
    assert again.stderr == ""
    assert_check_clean(run)


@pytest.mark.parametrize(
    "command",
    [
        ("profile", "show", "NOBODY"),
        ("profile", "delete", "NOBODY"),
        ("loyalty", "balance", "NOBODY"),
        ("loyalty", "ledger", "NOBODY"),
        (
            "loyalty",
            "deduct",
            "NOBODY",
            "--program",
            "sample-wallet",
            "--points",
            "1",
            "--reason",
            "r",
        ),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_reading_or_taking_from_an_unknown_customer_exits_1(
    run: Run, command: tuple[str, ...]
) -> None:
    assert run("profile", "update", "SOMEONE").exit_code == 0  # a state file to look in
    result = run(*command)
    assert result.exit_code == 1, result
    assert result.stderr == "refcamp: error: no customer profile 'NOBODY'\n"
    assert run("profile", "show", "NOBODY").exit_code == 1


# --- 18: a broken campaign file blocks only what evaluates rules -------------------------------


@pytest.fixture
def broken(active: Run, campaigns_dir: Path) -> tuple[Run, str]:
    """The seed story told (ADV's code redeemed by F in S1), then one campaign file broken."""
    code = active("profile", "update", "ADV", "-q").stdout.strip()
    closed = active("session", "close", "S1", "--profile", "F", "--referral", code)
    assert closed.exit_code == 0, closed
    with (campaigns_dir / "spring-coupons.toml").open("a") as toml:
        toml.write('program = "sample-walet"\n')
    return active, code


WARNING = "does not validate (1 problem; refcamp campaign validate lists them)"


@pytest.mark.parametrize(
    "command",
    [
        ("loyalty", "balance", "ADV"),
        ("loyalty", "balance", "ADV", "--json"),
        ("loyalty", "ledger", "ADV"),
        ("profile", "show", "ADV"),
        ("profile", "show", "ADV", "--json"),
        ("referral", "list"),
        ("referral", "list", "--json"),
        ("coupon", "list"),
        ("session", "show", "S1"),
        ("session", "show", "S1", "--json"),
        ("db", "check"),
    ],
    ids=" ".join,
)
def test_a_broken_campaign_file_does_not_block_reading_the_state_file(
    broken: tuple[Run, str], command: tuple[str, ...]
) -> None:
    run, _ = broken
    result = run(*command)
    assert result.exit_code == 0, result
    assert result.stderr.count(WARNING) == 1, result
    assert "warning: campaign directory" in result.stderr


def test_balances_and_codes_read_with_a_broken_campaign_file_are_the_real_ones(
    broken: tuple[Run, str],
) -> None:
    run, code = broken
    balance = run("loyalty", "balance", "ADV", "--json")
    assert [p["ledger"]["currentBalance"] for p in balance.json["programs"].values()] == [100.0]
    assert [r["code"] for r in run("referral", "list", "--json").json] == [code]
    assert run("db", "path").exit_code == 0


@pytest.mark.parametrize(
    "command",
    [
        ("session", "close", "S2", "--profile", "F"),
        ("profile", "update", "NEW"),
        ("event", "track", "review_posted", "--profile", "F"),
    ],
    ids=" ".join,
)
def test_a_broken_campaign_file_still_blocks_requests_that_run_rules(
    broken: tuple[Run, str], command: tuple[str, ...]
) -> None:
    run, _ = broken
    result = run(*command)
    assert result.exit_code == 2, result
    assert "invalid campaigns (1 problem)" in result.stderr
    assert "sample-walet" in result.stderr or "program" in result.stderr


def test_a_campaign_declaring_no_features_takes_codes(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "plain.toml").write_text('[campaign]\nid = "plain"\nstate = "enabled"\n')
    options = ("--campaigns", str(folder))
    assert (
        run(*options, "referral", "create", "--campaign", "plain", "--advocate", "A").exit_code == 0
    )
    assert run(*options, "coupon", "create", "--campaign", "plain").exit_code == 0
    assert_check_clean(run, *options)
