"""The console's requests: the live table (HTTP, CLI and replay requests arriving without a
reload) and one request's page with its effects and explanation, in a real browser against a
real server, the CLI in real subprocesses on the same state file (REFCAMP_DB)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import expect

from tests.console.conftest import screenshot, sign_in
from tests.serving import KEY, Server, refcamp

XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def register(console: Server, profile: str) -> str:
    """An advocate registers over HTTP: its new referral code."""
    reply = console.request(
        "PUT", f"/v2/customer_profiles/{quote(profile, safe='')}?runRuleEngine=true", {}
    )
    assert reply.status == 200, reply
    (created,) = [e for e in reply.body["effects"] if e["effectType"] == "referralCreated"]
    return created["props"]["value"]


def cli(*args: str) -> str:
    code, out, err = refcamp(*args)
    assert code == 0, (code, out, err)
    return out


def row(page, door: str, path: str):
    return page.locator(f"tr[data-door='{door}']", has_text=path)


def test_http_and_cli_requests_appear_live(page, console: Server) -> None:
    sign_in(page)
    expect(page.locator("h1")).to_have_text("Requests")
    expect(page.locator("tr.empty")).to_contain_text("No requests yet")
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    page.evaluate("window.notReloaded = true")

    register(console, "ADVOCATE")
    http = row(page, "http", "/v2/customer_profiles/ADVOCATE")
    expect(http.get_by_test_id("door")).to_have_text("http")
    expect(http.get_by_test_id("effects")).to_contain_text("referral code")
    expect(http.get_by_test_id("effects")).to_contain_text("created")
    expect(page.locator("tr.empty")).to_have_count(0)

    cli("profile", "update", "CLI-CUSTOMER")
    command = row(page, "cli", "/v2/customer_profiles/CLI-CUSTOMER")
    expect(command.get_by_test_id("door")).to_have_text("cli")
    expect(command.get_by_test_id("customer")).to_have_text("CLI-CUSTOMER")
    expect(command.get_by_test_id("customer").locator("a")).to_have_attribute(
        "href", "/customers/CLI-CUSTOMER"
    )

    # A failure over HTTP shows up too, with its status and message.
    assert console.request("PUT", "/v2/customer_sessions/NOWHERE/reopen").status == 404
    failed = row(page, "http", "/v2/customer_sessions/NOWHERE/reopen")
    expect(failed.get_by_test_id("status")).to_have_text("404")
    expect(failed.get_by_test_id("message")).to_contain_text("NOWHERE")

    # Newest first, and all of it without a reload.
    expect(page.locator("tr[data-testid=request]").first).to_contain_text("NOWHERE")
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_seed_story_and_a_rejected_referral_in_words(page, console: Server) -> None:
    sign_in(page)
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    code = register(console, "ADV")
    cli("session", "close", "S1", "--profile", "FRIEND", "--referral", code)
    closed = row(page, "cli", "/v2/customer_sessions/S1").get_by_test_id("effects")
    expect(closed).to_contain_text(f"referral code {code} accepted")
    expect(closed).to_contain_text("+100 points for ADV in sample-wallet")
    expect(closed).to_contain_text("+50 points for FRIEND in sample-wallet")
    expect(closed.locator("[data-effect=addLoyaltyPoints]")).to_have_count(2)
    expect(closed.locator("[data-effect=acceptReferral]")).to_have_count(1)

    cli("session", "close", "S2", "--profile", "OTHER", "--referral", "NOPE-0000")
    rejected = row(page, "cli", "/v2/customer_sessions/S2").get_by_test_id("rejection")
    expect(rejected).to_contain_text("rejected")
    expect(rejected).to_contain_text("ReferralNotFound")
    expect(rejected).to_have_class("rejected")
    screenshot(page, "requests")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_a_request_explained_condition_by_condition(page, console: Server) -> None:
    code = register(console, "ADV")
    cli("session", "close", "S1", "--profile", "FRIEND", "--referral", code)
    cli("session", "close", "S2", "--profile", "OTHER", "--referral", "NOPE-0000")
    sign_in(page)
    row(page, "cli", "/v2/customer_sessions/S1").get_by_test_id("explain").click()
    expect(page.locator("h1")).to_contain_text("PUT /v2/customer_sessions/S1")
    expect(page.get_by_test_id("door")).to_have_text("cli")
    expect(page.get_by_test_id("effect")).to_have_count(3)
    expect(page.get_by_test_id("effect").nth(1)).to_contain_text("recipientIntegrationId")

    campaign = page.locator("[data-campaign='medium-referral']")
    redeem = campaign.get_by_test_id("rule").filter(has_text="Friend redeems referral code")
    expect(redeem.get_by_test_id("fired")).to_have_text("fired")
    generate = campaign.get_by_test_id("rule").filter(has_text="Generate a referral code")
    expect(generate.get_by_test_id("fired")).to_have_text("did not fire")
    condition = generate.get_by_test_id("condition").first
    expect(condition).to_contain_text("Customer Profile Registration")
    expect(condition.get_by_test_id("holds")).to_have_text("failed")
    expect(condition.get_by_test_id("seen")).to_have_text(
        "talon_session_created, talon_session_closed"
    )
    expect(condition.get_by_test_id("needed")).to_have_text("talon_profile_created")
    expect(page.get_by_test_id("not-running")).to_contain_text("spring-coupons")
    screenshot(page, "request")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    page.goto("/requests")
    row(page, "cli", "/v2/customer_sessions/S2").get_by_test_id("explain").click()
    expect(page.get_by_test_id("rejection").get_by_test_id("reason")).to_have_text(
        "ReferralNotFound"
    )


def test_an_unknown_request_is_a_404_page(page, console: Server) -> None:
    sign_in(page)
    response = page.goto("/requests/424242")
    assert response is not None and response.status == 404
    expect(page.locator("[role=alert]")).to_contain_text("no logged request 424242")


def test_a_script_as_a_profile_id_is_text(page, console: Server) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page)
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    # Over HTTP an id cannot hold "/", so this one is another script; the CLI's can.
    register(console, IMG)  # arrives through the live feed
    customer = page.locator("tr[data-testid=request]").first.get_by_test_id("customer")
    expect(customer).to_have_text(IMG)
    cli("profile", "update", XSS)
    expect(customer).to_have_text(XSS)
    expect(page.locator("tr[data-testid=request]").nth(1)).to_contain_text(IMG)
    page.reload()  # and rendered with the page
    expect(customer).to_have_text(XSS)
    customer.locator("..").get_by_test_id("explain").click()
    expect(page.get_by_test_id("customer")).to_have_text(XSS)
    assert dialogs == []


def test_the_feed_is_for_the_signed_in_only(page, console: Server) -> None:
    base = f"http://127.0.0.1:{console.port}/requests/feed?after=0"
    anonymous = page.request.get(base)
    assert anonymous.status == 401 and anonymous.headers["content-type"].startswith("text/plain")
    register(console, "ADV")
    keyed = page.request.get(base, headers={"Authorization": f"ApiKey-v1 {KEY}"})
    assert keyed.status == 200 and "/v2/customer_profiles/ADV" in keyed.text()
    newest = keyed.headers["x-newest"]
    nothing = page.request.get(
        base.replace("after=0", f"after={newest}"), headers={"Authorization": f"ApiKey-v1 {KEY}"}
    )
    assert nothing.status == 200 and nothing.text().strip() == ""
    assert nothing.headers["x-newest"] == newest


def test_replayed_lines_appear_and_older_pages_work_without_javascript(
    page, browser, console: Server, tmp_path: Path
) -> None:
    sign_in(page)
    expect(page.locator("[data-live-status]")).to_contain_text("Live")
    lines = [
        {"path": f"/v2/customer_profiles/R{n:02}", "body": {}, "query": {"runRuleEngine": "true"}}
        for n in range(51)
    ]
    log = tmp_path / "requests.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cli("replay", str(log))
    replayed = row(page, "replay", "/v2/customer_profiles/R50")
    expect(replayed.get_by_test_id("door")).to_have_text("replay")
    expect(replayed.get_by_test_id("effects")).to_contain_text("referral code")
    # More than a page at once: the feed gives the newest 50 and says where the rest are.
    feed = page.request.get(f"http://127.0.0.1:{console.port}/requests/feed?after=0")
    assert feed.status == 200
    assert feed.text().count('data-testid="request"') == 50
    assert "R00" not in feed.text() and "/requests?before=" in feed.text()

    # Without JavaScript: the newest 50, then an Older link to the rest.
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        base_url=f"http://127.0.0.1:{console.port}",
        java_script_enabled=False,
    )
    try:
        plain = context.new_page()
        sign_in(plain)
        expect(plain.locator("h1")).to_have_text("Requests")
        expect(plain.locator("tr[data-testid=request]")).to_have_count(50)
        expect(plain.locator("tr[data-testid=request]").first).to_contain_text("R50")
        plain.get_by_test_id("older").click()
        expect(plain.locator("tr[data-testid=request]")).to_have_count(1)
        expect(plain.locator("tr[data-testid=request]")).to_contain_text("R00")
        expect(plain.get_by_test_id("older")).to_have_count(0)
        plain.locator("tr[data-testid=request]").get_by_test_id("explain").click()
        expect(plain.get_by_test_id("door")).to_have_text("replay")
        expect(plain.get_by_test_id("effect")).to_contain_text("referral code")
    finally:
        context.close()


def test_a_customer_link_keeps_an_id_with_a_slash_whole(page, console: Server) -> None:
    cli("profile", "update", "team/alice?x=1#y")
    sign_in(page)
    link = row(page, "cli", "/v2/customer_profiles/team%2Falice").get_by_test_id("customer")
    expect(link.locator("a")).to_have_attribute("href", "/customers/team%2Falice%3Fx%3D1%23y")
    link.locator("a").click()
    expect(page.get_by_test_id("customer-id")).to_have_text("team/alice?x=1#y")
