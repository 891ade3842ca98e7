"""`session return` and `session reopen` through the real command: outcomes, and bad input that
changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run


@pytest.fixture
def closed(active: Run, campaigns_dir: Path) -> Run:
    code = active("profile", "update", "ADV", "-q").stdout.strip()
    result = active(
        "session", "close", "S1", "--profile", "F", "--referral", code,
        "--item", "sku=a,price=30,quantity=2", "--item", "sku=b,price=40",
    )  # fmt: skip
    assert result.exit_code == 0, result
    return active


def balance(run: Run, who: str) -> int:
    result = run("loyalty", "balance", who, "--program", "sample-wallet", "--json")
    return int(result.json["balance"]["activePoints"])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("0", "expected position=P[,quantity=Q]"),
        ("position=x", "position must be a whole number"),
        ("quantity=1", "position=P is required"),
        ("position=0,position=1", "expected position=P"),
        ("position=0,size=1", "expected position=P"),
        ("position=7", "no cart item at position 7"),
        ("position=0,quantity=3", "2 of 'a' left to return, asked 3"),
        ("position=0,quantity=0", "left to return, asked 0"),
    ],
)
def test_a_bad_item_is_exit_2_and_changes_nothing(closed: Run, spec: str, words: str) -> None:
    result = closed("session", "return", "S1", "--item", spec)
    assert result.exit_code == 2, result
    assert words in result.stderr
    assert result.stdout == ""
    assert (balance(closed, "ADV"), balance(closed, "F")) == (100, 50)
    assert closed("session", "show", "S1", "--json").json["customerSession"]["state"] == "closed"


def test_only_a_closed_session_returns_or_reopens(closed: Run) -> None:
    assert closed("session", "update", "O1", "--profile", "G").exit_code == 0
    for args in (["return", "O1", "--item", "position=0"], ["reopen", "O1"]):
        result = closed("session", *args)
        assert result.exit_code == 1, result
        assert "only a closed session" in result.stderr
    assert closed("session", "return", "S1").exit_code == 2  # nothing said to return


def test_returns_then_reopen(closed: Run) -> None:
    """The seed's points were earned by the referral, not by an item: a return rolls none of
    them back, and a reopen keeps them (they are active), giving back only the code's use;
    closing again redeems the code anew and awards no point twice."""
    returned = closed("session", "return", "S1", "--item", "position=0,quantity=1", "--json").json
    assert returned["effects"] == []
    assert returned["customerSession"]["state"] == "partially_returned"
    assert (balance(closed, "ADV"), balance(closed, "F")) == (100, 50)
    dry = closed("session", "return", "S1", "--item", "position=1", "--dry-run", "--json").json
    assert dry["dryRun"] is True
    reopened = closed("session", "reopen", "S1", "--json").json
    assert {e["effectType"] for e in reopened["effects"]} == {"rollbackReferral"}
    assert (balance(closed, "ADV"), balance(closed, "F")) == (100, 50)
    again = closed("session", "close", "S1", "--json")
    assert again.exit_code == 0, again
    assert "acceptReferral" in {e["effectType"] for e in again.json["effects"]}
    assert "addLoyaltyPoints" not in {e["effectType"] for e in again.json["effects"]}
    assert (balance(closed, "ADV"), balance(closed, "F")) == (100, 50)
    result = closed("db", "check")
    assert result.exit_code == 0, result
