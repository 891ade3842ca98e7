"""session.total, session.cartItemTotal and session.itemCount: the numbers of the session's cart
(and of its additional costs), as attribute conditions see them."""

from __future__ import annotations

import pytest
from kit import attribute, campaign, catalog, facts, failed, fired_rules, hit, item, rule

from refcamp.engine import evaluate
from refcamp.models import CartItem

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless


@pytest.mark.parametrize(
    ("path", "op", "value", "items", "expected"),
    [
        ("session.total", ">=", "50", [item(price=25, quantity=2)], True),
        ("session.total", ">=", "50", [item(price=24.99, quantity=2)], False),
        ("session.cartItemTotal", "==", "30", [item(price=10, quantity=3)], True),
        ("session.cartItemTotal", "==", "30", [item(price=10, quantity=2)], False),
        ("session.itemCount", ">", "2", [item("a", quantity=2), item("b", quantity=1)], True),
        ("session.itemCount", ">", "2", [item("a", quantity=1), item("b", quantity=1)], False),
        ("session.itemCount", "in", "[0, 1]", [], True),
        ("session.total", "<", "0.01", [], True),
    ],
)
def test_session_number_paths(
    path: str, op: str, value: str, items: list[CartItem], expected: bool
) -> None:
    evaluation = evaluate(catalog(campaign(rule(attribute(path, op, value)))), facts(*items))
    assert hit(evaluation) is expected
    if not expected:
        index, check = failed(evaluation)
        assert index == 0
        assert check.seen.startswith(f"{path} = ")


def test_session_total_counts_additional_costs_and_cart_item_total_does_not() -> None:
    rules = catalog(
        campaign(
            rule(attribute("session.total", "==", "35"), name="total"),
            rule(attribute("session.cartItemTotal", "==", "30"), name="items"),
            rule(attribute("session.cartItemTotal", "==", "35"), name="wrong"),
        )
    )
    evaluation = evaluate(rules, facts(item(price=10, quantity=3), costs={"shipping": 5}))
    assert fired_rules(evaluation) == ["total", "items"]
    assert [r.rule_name for r in evaluation.rules if not r.fired] == ["wrong"]


def test_a_total_is_shown_as_money_however_the_price_was_typed() -> None:
    rules = catalog(campaign(rule(attribute("session.total", ">", "50"))))
    for price in (40, 40.0):
        _, check = failed(evaluate(rules, facts(item(price=price))))
        assert (check.seen, check.needed) == ("session.total = 40.00", "> 50")


def test_a_request_without_a_session_has_no_numbers() -> None:
    rules = catalog(campaign(rule(attribute("session.total", "<", "1"))))
    evaluation = evaluate(rules, facts(sessionless=True, events=("purchase",)))
    assert not hit(evaluation)
    assert failed(evaluation)[1].seen == "session.total = missing"
