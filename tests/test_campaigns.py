"""Loading campaign files: the samples validate, and every mistake is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from refcamp.campaigns import load
from refcamp.errors import CampaignFileError
from refcamp.paths import SAMPLES

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

ROOT = Path(__file__).resolve().parents[1]

GOOD_RULES = """
[[rules]]
name = "Welcome"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "create_referral_code" }]
"""


def problems(directory: Path) -> list[str]:
    with pytest.raises(CampaignFileError) as caught:
        load(directory)
    return caught.value.problems


def test_every_sample_validates() -> None:
    catalog = load(SAMPLES)
    assert [c.id for c in catalog.campaigns] == ["medium-referral", "spring-coupons"]
    assert list(catalog.programs) == ["sample-wallet"]
    assert all(c.state == "disabled" for c in catalog.campaigns)
    campaign = catalog.campaigns[0]
    assert campaign.state == "disabled"
    assert campaign.referrals.pattern == "####-####"
    assert [r.name for r in campaign.rules] == [
        "Generate a referral code",
        "Friend redeems referral code",
    ]


def test_repository_campaigns_are_the_shipped_samples() -> None:
    shipped = {p.name: p.read_bytes() for p in SAMPLES.glob("*.toml")}
    local = {p.name: p.read_bytes() for p in (ROOT / "campaigns").glob("*.toml")}
    assert local == shipped


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('[campaign]\nid = "x"\nname = \n')
    [problem] = problems(tmp_path)
    assert "broken.toml" in problem and "line 3" in problem


def test_all_mistakes_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "shop.toml").write_text(
        """
[campaign]
id = "shop"
state = "enabled"
feature = ["loyalty"]

[[rules]]
name = "Big carts"
when = [{ evnt = "talon_session_closed" }]
then = [
  { effect = "add_loyalty_point", program = "wallet", points = 5 },
  { effect = "add_loyalty_points", program = "walet", points = 5, reasn = "x" },
]
"""
    )
    (tmp_path / "wallet.toml").write_text('[[loyalty_program]]\nid = "wallet"\nname = "W"\n')
    found = problems(tmp_path)
    text = "\n".join(found)
    assert len(found) == 5, text
    assert all(p.startswith("shop.toml") or "shop.toml" in p for p in found)
    assert "unknown key 'feature' (did you mean features?)" in text
    assert "rule 1 'Big carts': condition 1: unknown condition 'evnt' (did you mean event?)" in text
    assert (
        "effect 1: effect: unknown effect 'add_loyalty_point' (did you mean add_loyalty_points?)"
        in text
    )
    assert "effect 2: unknown key 'reasn' (did you mean reason?)" in text
    assert "effect 2: program: unknown loyalty program 'walet' (did you mean wallet?)" in text


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            '[campaign]\nid = "same"\n' + GOOD_RULES + '[[loyalty_program]]\nid = "w"\n'
        )
    text = "\n".join(problems(tmp_path))
    assert "b.toml: [campaign]: id: duplicate id 'same', also in " in text
    assert "b.toml: loyalty program 1: id: duplicate id 'w', also in " in text
    assert text.count("a.toml") == 2


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('id = "Bad_Id"', "must be lower-case letters, digits and dashes"),
        ('id = "x"\nstate = "on"', "unknown value 'on'"),
        ('id = "x"\nstart = 2026-01-01T00:00:00', "needs a time zone"),
        ('id = "x"\n[campaign.referrals]\npattern = "ABC"', "has no '#'"),
        ('id = "x"\n[campaign.referrals]\nusage_limit = -1', "must be at least 0"),
        ('id = "x"\n[campaign.referrals]\nvalid_for = "30 days"', "is not a duration"),
    ],
)
def test_campaign_table_checks(tmp_path: Path, snippet: str, expected: str) -> None:
    (tmp_path / "c.toml").write_text("[campaign]\n" + snippet + "\n" + GOOD_RULES)
    assert expected in "\n".join(problems(tmp_path))


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        ('{ effect = "add_loyalty_points", program = "w", points = 0 }', "must be at least 1"),
        ('{ effect = "add_loyalty_points", program = "w", points = "5" }', "expected an integer"),
        (
            '{ effect = "add_loyalty_points", program = "w", points = 5, recipient = "friend" }',
            "unknown value 'friend'",
        ),
        ('{ effect = "add_loyalty_points", points = 5 }', "missing key 'program'"),
    ],
)
def test_effect_checks(tmp_path: Path, effect: str, expected: str) -> None:
    (tmp_path / "c.toml").write_text(
        '[campaign]\nid = "x"\n[[loyalty_program]]\nid = "w"\n'
        f'[[rules]]\nname = "r"\nwhen = []\nthen = [{effect}]\n'
    )
    assert expected in "\n".join(problems(tmp_path))


def test_unknown_builtin_event(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[campaign]\nid = "x"\n[[rules]]\nname = "r"\n'
        'when = [{ event = "talon_session_close" }]\nthen = [{ effect = "create_referral_code" }]\n'
    )
    assert "did you mean talon_session_closed?" in "\n".join(problems(tmp_path))


def test_custom_event_names_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[campaign]\nid = "x"\n[[rules]]\nname = "r"\n'
        'when = [{ event = "review_posted" }]\nthen = [{ effect = "create_referral_code" }]\n'
    )
    assert load(tmp_path).campaigns[0].rules[0].when[0].words() == "event review_posted"


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_bytes(b'[campaign]\nid = "\xff"\n')
    assert "not UTF-8" in problems(tmp_path)[0]


def test_ruleset_id_changes_with_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nid = "x"\n' + GOOD_RULES)
    first = load(tmp_path).campaigns[0].ruleset_id
    path.write_text('[campaign]\nid = "x"\n' + GOOD_RULES.replace("Welcome", "Hello"))
    assert load(tmp_path).campaigns[0].ruleset_id != first


@pytest.mark.parametrize("value", ['"2026-03-01T06:00:00Z"', "20260301", "true"])
def test_a_start_that_is_not_a_toml_date_time_says_how_to_write_one(
    tmp_path: Path, value: str
) -> None:
    (tmp_path / "shop.toml").write_text(
        f'[campaign]\nid = "shop"\nname = "Shop"\nstart = {value}\n' + GOOD_RULES
    )
    [problem] = problems(tmp_path)
    assert "start: expected a TOML date-time, unquoted (e.g. 2026-03-01T06:00:00Z)" in problem
