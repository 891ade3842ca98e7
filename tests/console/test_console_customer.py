"""The console's Customer page, in a real browser: find a customer, read their balances, ledger,
chart and referral codes; unknown ids and ids that look like markup."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.console.conftest import screenshot, sign_in
from tests.serving import Server


def signed_in(page, path: str = "/customers") -> None:
    """Sign in and wait until the console shows its pages."""
    sign_in(page)
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(path)


def seed_story(console: Server) -> str:
    """The seed tutorial over the API: ADVOCATE registers (gets a code), FRIEND closes a session
    with it. Returns the code."""
    reply = console.request("PUT", "/v2/customer_profiles/ADVOCATE?runRuleEngine=true", {})
    assert reply.status == 200, reply
    code = next(e for e in reply.body["effects"] if e["effectType"] == "referralCreated")["props"][
        "value"
    ]
    session = {
        "customerSession": {
            "profileId": "FRIEND",
            "state": "closed",
            "referralCode": code,
            "cartItems": [{"sku": "SKU1", "quantity": 2, "price": 20}],
        }
    }
    reply = console.request("PUT", "/v2/customer_sessions/S-FRIEND-1", session)
    assert reply.status == 200, reply
    return code


def test_find_a_customer_and_read_both_balances(page, console: Server) -> None:
    code = seed_story(console)
    signed_in(page)
    expect(page.locator("h1")).to_have_text("Customer")
    screenshot(page, "customers")
    page.fill("#id", "ADVOCATE")
    page.click("form[role=search] button[type=submit]")
    assert page.url.endswith("/customers/ADVOCATE")
    expect(page.get_by_test_id("customer-id")).to_have_text("ADVOCATE")
    wallet = page.locator("[data-program='sample-wallet']")
    expect(wallet.get_by_test_id("current")).to_have_text("100")
    expect(wallet.get_by_test_id("pending")).to_have_text("0")
    expect(wallet.get_by_test_id("ledger")).to_contain_text("100 Bonus points for Advocate")
    expect(wallet.get_by_test_id("ledger")).to_contain_text("S-FRIEND-1")
    chart = wallet.get_by_test_id("balance-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("path.step")).to_have_count(1)
    expect(chart).to_contain_text("100")  # the value axis
    # The advocate's code, and the friend it brought (a link to the friend's page).
    row = page.get_by_test_id("advocate-codes").locator(f"tr[data-code='{code}']")
    expect(row).to_contain_text("medium-referral")
    expect(row).to_contain_text("1/∞")
    expect(row.get_by_test_id("friends")).to_have_text("FRIEND")
    no_overflow(page)
    screenshot(page, "customer")

    row.get_by_role("link", name="FRIEND").click()
    expect(page.get_by_test_id("customer-id")).to_have_text("FRIEND")
    wallet = page.locator("[data-program='sample-wallet']")
    expect(wallet.get_by_test_id("current")).to_have_text("50")
    expect(wallet.get_by_test_id("balance-chart")).to_be_visible()
    friend_codes = page.get_by_test_id("friend-codes").locator(f"tr[data-code='{code}']")
    expect(friend_codes).to_contain_text("ADVOCATE")
    sessions = page.get_by_test_id("sessions")
    expect(sessions).to_contain_text("S-FRIEND-1")
    expect(sessions).to_contain_text("closed")
    expect(sessions).to_contain_text("40.00")


def no_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_unknown_id_says_so(page, console: Server) -> None:
    console.request("PUT", "/v2/customer_profiles/ALICE?runRuleEngine=true", {})
    signed_in(page)
    reply = page.goto("/customers?id=nobody")
    assert reply is not None and reply.status == 404
    expect(page.get_by_test_id("not-found")).to_have_text("no customer profile 'nobody'")
    expect(page.locator("#id")).to_have_value("nobody")
    # Another case (all upper or all lower): the service's hint.
    page.fill("#id", "alice")
    page.click("form[role=search] button[type=submit]")
    expect(page.get_by_test_id("not-found")).to_contain_text("did you mean ALICE?")
    reply = page.goto("/customers/nobody")
    assert reply is not None and reply.status == 404
    expect(page.get_by_test_id("not-found")).to_contain_text("no customer profile 'nobody'")


def test_ids_and_attributes_that_look_like_markup_are_text(page, console: Server) -> None:
    hostile = "<script>alert(1)</script>"
    value = "<img src=x onerror=alert(2)>"
    # Its "/" cannot be in a URL's path: the bulk update names it in the body.
    body = {"customerProfiles": [{"integrationId": hostile, "attributes": {"Name": value}}]}
    reply = console.request("PUT", "/v2/customer_profiles", body)
    assert reply.status == 204, reply
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    signed_in(page)
    page.fill("#id", hostile)
    page.click("form[role=search] button[type=submit]")
    expect(page.get_by_test_id("customer-id")).to_have_text(hostile)
    expect(page.get_by_test_id("attributes")).to_contain_text(value)
    assert hostile in page.title()
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    # Its own page's address too (the "/" as %2F).
    page.goto("/customers/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    expect(page.get_by_test_id("customer-id")).to_have_text(hostile)
    page.wait_for_timeout(300)
    assert dialogs == []


@pytest.mark.stateless
def test_the_balance_chart_follows_the_ledgers_rules() -> None:
    """Each point of the chart is refcamp.loyalty.balance as of its moment: points pending until
    they start, spent soonest-expiring first, expired when their time is up."""
    from datetime import UTC, datetime, timedelta

    from refcamp.console import charts
    from refcamp.loyalty import balance
    from refcamp.models import LedgerEntry

    t0, day = datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1)

    def entry(uuid: str, kind: str, amount: int, made: datetime, **dates: datetime) -> LedgerEntry:
        start = dates.get("start", made)
        return LedgerEntry(uuid, "w", "P", kind, amount, uuid, made, start, dates.get("expiry"))

    entries = [
        entry("a", "addition", 100, t0, expiry=t0 + 10 * day),
        entry("b", "subtraction", 30, t0 + day),
        entry("c", "addition", 50, t0 + 2 * day, start=t0 + 3 * day),
    ]
    now = t0 + 20 * day
    points = charts.balance_over_time(entries, now)
    assert [v for _, v in points] == [0, 100, 70, 70, 120, 50, 50]
    assert points[-1] == (now, balance(entries, now).current)
    chart = charts.steps(points)
    assert chart.path.startswith("M ") and chart.path.count("V") == len(points) - 1
    assert [label.text for label in chart.labels][:2] == ["0", "150"]
