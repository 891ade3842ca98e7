"""The console's sign-in and campaigns page, in a real browser."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.conftest import screenshot, sign_in
from tests.serving import KEY, Server, start


def test_a_wrong_key_is_refused_with_a_clear_message(page) -> None:
    page.goto("/campaigns")
    assert "/login" in page.url  # the pages need the key first
    sign_in(page, "not-the-key")
    expect(page.get_by_test_id("login-error")).to_contain_text("not this server's API key")
    assert page.context.cookies() == []
    screenshot(page, "login")


def test_the_key_is_kept_for_the_tab_and_never_in_a_url(page) -> None:
    sign_in(page)
    expect(page.locator("h1")).to_have_text("Requests")
    assert KEY not in page.url
    assert page.evaluate("sessionStorage.getItem('refcamp-api-key')") == KEY
    cookie = page.context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] == -1
    assert KEY not in cookie["value"]


def test_campaigns_read_back_in_words_and_switch_off_and_on(page, console: Server) -> None:
    sign_in(page)
    page.goto("/campaigns")
    card = page.locator("[data-campaign='medium-referral']")
    expect(card.get_by_test_id("state")).to_have_text("enabled")
    expect(card).to_contain_text("1 redeemReferral per profile")
    expect(card).to_contain_text("When Customer Profile Registration, then create a referral code.")
    screenshot(page, "campaigns")
    card.get_by_test_id("switch").click()
    expect(card.get_by_test_id("state")).to_have_text("disabled")
    # The switch is the CLI's service call: the next request runs no rule of the campaign.
    reply = console.request("PUT", "/v2/customer_profiles/AFTER?runRuleEngine=true", {})
    assert reply.status == 200 and reply.body["effects"] == []
    card.get_by_test_id("switch").click()
    expect(card.get_by_test_id("state")).to_have_text("enabled")
    reply = console.request("PUT", "/v2/customer_profiles/AGAIN?runRuleEngine=true", {})
    assert [e["effectType"] for e in reply.body["effects"]] == ["referralCreated"]


def test_a_switch_posted_from_elsewhere_is_refused(page, console: Server) -> None:
    sign_in(page)
    page.goto("/campaigns")
    status = page.evaluate(
        """async () => (await fetch('/campaigns/medium-referral/state', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: 'state=disabled&csrf=forged'})).status"""
    )
    assert status == 403
    page.reload()
    expect(page.locator("[data-campaign='medium-referral']").get_by_test_id("state")).to_have_text(
        "enabled"
    )


def test_every_answer_runs_only_the_consoles_own_script_and_is_never_framed(
    page, console: Server
) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    for path in ("/login", "/static/console.css"):
        reply = page.request.get(path)
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["cache-control"] == "no-store"
    sign_in(page)
    for path in ("/requests", "/campaigns", "/customers", "/forecast"):
        page.goto(path)
    # No page needs anything the policy refuses (inline styles or scripts).
    assert not [m for m in messages if "Content Security Policy" in m], messages


def test_signing_out_needs_the_consoles_own_form_and_a_new_server_signs_everyone_out(
    page, console: Server
) -> None:
    sign_in(page)
    forged = page.evaluate(
        """async () => (await fetch('/logout', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'}))
        .status"""
    )
    assert forged == 403
    page.goto("/campaigns")
    assert page.url.endswith("/campaigns")  # still signed in
    page.click(".logout button")
    assert "/login" in page.url
    page.goto("/campaigns")
    assert "/login" in page.url

    # Signed in again, then the server restarts on another port: its cookies mean nothing.
    sign_in(page)
    cookies = page.context.cookies()
    restarted = start()
    try:
        other = page.context.browser.new_context(base_url=f"http://127.0.0.1:{restarted.port}")
        other.add_cookies([{**c, "domain": "127.0.0.1", "path": "/"} for c in cookies if c["name"]])
        tab = other.new_page()
        tab.goto("/campaigns")
        assert "/login" in tab.url
        other.close()
    finally:
        restarted.stop()
