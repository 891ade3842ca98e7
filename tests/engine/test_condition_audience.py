"""{ audience = "NAME" }: the current customer is in the audience (the service loads the
customer's audiences into the facts, after a request's own audience changes)."""

from __future__ import annotations

import pytest
from kit import campaign, catalog, facts, failed, hit, rule

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless


def test_audience_condition() -> None:
    rules = catalog(campaign(rule('{ audience = "vip" }')))
    assert hit(evaluate(rules, facts(audiences=frozenset({"vip", "news"}))))
    outsider = evaluate(rules, facts())
    assert not hit(outsider)
    _, check = failed(outsider)
    assert (check.seen, check.needed) == ("audiences: no audience", "vip")
    left = evaluate(rules, facts(audiences=frozenset({"news", "beta"})))
    assert failed(left)[1].seen == "audiences: beta, news"
    anonymous = evaluate(rules, facts(anonymous=True))
    assert not hit(anonymous)
    assert failed(anonymous)[1].seen == "audiences: no customer"


def test_audience_words() -> None:
    rules = catalog(campaign(rule('{ audience = "vip" }')))
    condition = evaluate(rules, facts()).rules[0].conditions[0]
    assert condition.words == "the customer is in audience 'vip'"
