"""{ any_item = [conditions] }: at least one cart item satisfies every inner condition, which
read the item's fields (item.sku, .name, .category, .price, .quantity) and attributes."""

from __future__ import annotations

import pytest
from kit import attribute, campaign, catalog, facts, failed, hit, item, rule

from refcamp.engine import evaluate
from refcamp.models import CartItem

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

OTHER = item("other", category="Other")


def any_item(*conditions: str) -> str:
    return f"{{ any_item = [{', '.join(conditions)}] }}"


@pytest.mark.parametrize(
    ("condition", "good", "bad"),
    [
        (attribute("item.sku", "==", '"sku-1"'), item("sku-1"), item("sku-2")),
        (
            attribute("item.name", "starts_with", '"Pro"'),
            item(name="ProductC"),
            item(name="Widget"),
        ),
        (
            attribute("item.category", "in", '["Accessories", "Bags"]'),
            item(category="Bags"),
            item(category="Shoes"),
        ),
        (attribute("item.price", ">=", "20"), item(price=20), item(price=19.99)),
        (attribute("item.quantity", ">=", "3"), item(quantity=3), item(quantity=2)),
        (attribute("item.sku", "not_in", '["other", "x"]'), item("y"), item("x")),
    ],
)
def test_any_item_on_item_fields(condition: str, good: CartItem, bad: CartItem) -> None:
    rules = catalog(campaign(rule(any_item(condition))))
    assert hit(evaluate(rules, facts(OTHER, good)))
    no = evaluate(rules, facts(OTHER, bad))
    assert not hit(no)
    assert failed(no)[1].seen == "0 of 2 items match"


def test_any_item_on_item_attributes() -> None:
    rules = catalog(campaign(rule(any_item(attribute("item.attributes.color", "==", '"red"')))))
    blue = item("a", 5, attributes={"color": "blue"})
    red = item("b", 5, attributes={"color": "red"})
    matched = evaluate(rules, facts(blue, red))
    assert hit(matched)
    assert matched.rules[0].conditions[0].check.seen == "1 of 2 items match (b)"
    assert not hit(evaluate(rules, facts(blue)))
    # An item without attributes: the attribute is missing, never a crash.
    assert not hit(evaluate(rules, facts(item("a"))))


def test_any_item_needs_one_item_to_satisfy_every_inner_condition() -> None:
    inner = (attribute("item.category", "==", '"Accessories"'), attribute("item.price", ">=", "20"))
    rules = catalog(campaign(rule(any_item(*inner))))
    split = facts(item("cheap", 5, category="Accessories"), item("dear", 50, category="Shoes"))
    assert not hit(evaluate(rules, split))
    assert hit(evaluate(rules, facts(item("bag", 25, category="Accessories"))))
    empty = evaluate(rules, facts())
    assert not hit(empty)
    _, check = failed(empty)
    assert (check.seen, check.needed) == ("0 of 0 items match", "at least one item")


def test_any_item_with_not_and_any_inside() -> None:
    gift = attribute("item.category", "==", '"Gift"')
    sku_or_many = (attribute("item.sku", "==", '"a"'), attribute("item.quantity", ">", "5"))
    inner = (f"{{ not = {gift} }}", f"{{ any = [{', '.join(sku_or_many)}] }}")
    rules = catalog(campaign(rule(any_item(*inner))))
    assert hit(evaluate(rules, facts(item("a", category="Food"))))
    assert hit(evaluate(rules, facts(item("b", quantity=6))))
    assert not hit(evaluate(rules, facts(item("a", category="Gift"))))
    assert not hit(evaluate(rules, facts(item("b", quantity=5))))
