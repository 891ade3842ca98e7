"""The seed story as a person watches it in the console: sign in, see the API's and the command
line's requests arrive live, open an explanation, find both customers and read their balances,
switch the campaign off and see the next request rejected. Its screenshot is the README's."""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import expect

from tests.console.conftest import screenshot, sign_in
from tests.serving import Server, refcamp


def close_with(console: Server, session: str, friend: str, code: str):
    body = {"customerSession": {"profileId": friend, "state": "closed", "referralCode": code}}
    reply = console.request("PUT", f"/v2/customer_sessions/{quote(session)}", body)
    assert reply.status == 200, reply
    return reply


def test_the_seed_story_in_the_console(page, console: Server) -> None:
    sign_in(page)
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    page.evaluate("window.notReloaded = true")

    # The advocate registers over HTTP; the friend closes a session from the command line.
    reply = console.request("PUT", "/v2/customer_profiles/ADV?runRuleEngine=true", {})
    code = reply.body["effects"][0]["props"]["value"]
    registered = page.locator("tr[data-door='http']", has_text="/v2/customer_profiles/ADV")
    expect(registered.get_by_test_id("effects")).to_contain_text(f"referral code {code} created")
    done, out, err = refcamp("session", "close", "S1", "--profile", "FRIEND", "--referral", code)
    assert done == 0, (out, err)
    closed = page.locator("tr[data-door='cli']", has_text="/v2/customer_sessions/S1")
    expect(closed.get_by_test_id("effects")).to_contain_text(f"referral code {code} accepted")
    expect(closed.get_by_test_id("effects")).to_contain_text("+100 points for ADV")
    expect(closed.get_by_test_id("effects")).to_contain_text("+50 points for FRIEND")
    assert page.evaluate("window.notReloaded") is True  # they arrived without a reload

    # Why it paid: the rule's conditions, each with the value seen and the value needed.
    closed.get_by_test_id("explain").click()
    rule = page.get_by_test_id("rule").filter(has_text="Friend redeems referral code")
    expect(rule.get_by_test_id("fired")).to_contain_text("fired")
    condition = rule.get_by_test_id("condition").filter(has_text="referral code is valid")
    expect(condition.get_by_test_id("seen")).to_contain_text(code)

    # Both customers, found by id, with their balances.
    for customer, points in (("ADV", "100"), ("FRIEND", "50")):
        page.goto("/customers")
        page.fill("#id", customer)
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("customer-id")).to_have_text(customer)
        wallet = page.locator("[data-program='sample-wallet']")
        expect(wallet.get_by_test_id("current")).to_have_text(points)

    # The campaign switched off in the console: the next friend's code is rejected.
    page.goto("/campaigns")
    card = page.locator("[data-campaign='medium-referral']")
    card.get_by_test_id("switch").click()
    expect(card.get_by_test_id("state")).to_have_text("disabled")
    page.goto("/requests")
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    reply = close_with(console, "S2", "FRIEND2", code)
    assert [e["effectType"] for e in reply.body["effects"]] == ["rejectReferral"]
    rejected = page.locator("tr[data-door='http']", has_text="/v2/customer_sessions/S2")
    expect(rejected.get_by_test_id("rejection")).to_contain_text(
        reply.body["effects"][0]["props"]["rejectionReason"]
    )
    screenshot(page, "story")  # the README's picture of the console (docs/console.png)
