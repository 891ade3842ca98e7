"""The console's Forecast page, in a real browser: `refcamp simulate`'s form, report and chart."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.conftest import screenshot, sign_in
from tests.serving import Server


def signed_in(page, path: str) -> None:
    sign_in(page)
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(path)


def test_the_form_has_the_cli_defaults_and_the_enabled_campaigns(page, console: Server) -> None:
    signed_in(page, "/forecast")
    expect(page.locator("#f-customers")).to_have_value("1000")
    expect(page.locator("#f-days")).to_have_value("30")
    expect(page.locator("#f-referral-rate")).to_have_value("0.3")
    expect(page.locator("#f-point-value")).to_have_value("0.01")
    expect(page.locator("input[name=campaign][value='medium-referral']")).to_be_checked()
    expect(page.locator("input[name=campaign][value='spring-coupons']")).not_to_be_checked()
    expect(page.get_by_test_id("report")).to_have_count(0)


def test_a_small_forecast_shows_the_report_and_the_chart(page, console: Server) -> None:
    signed_in(page, "/forecast")
    page.fill("#f-customers", "150")
    page.fill("#f-days", "10")
    page.fill("#f-seed", "7")
    page.click("#forecast button[name=run]")
    report = page.get_by_test_id("report")
    expect(report).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("summary")).to_contain_text("Simulated 150 customers over 10 days")
    expect(page.get_by_test_id("summary")).to_contain_text("(seed 7)")
    expect(page.get_by_test_id("requests")).to_contain_text("registrations")
    figures = page.locator("[data-testid=campaign-figures][data-campaign='medium-referral']")
    expect(figures).to_contain_text("points issued (sample-wallet)")
    expect(figures).to_contain_text("cost per acquired customer")
    chart = page.get_by_test_id("forecast-chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar").count() >= 2  # a bar per day, days without points too
    # The form keeps what was sent, and the same seed gives the same report.
    expect(page.locator("#f-customers")).to_have_value("150")
    summary = page.get_by_test_id("summary").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    report.scroll_into_view_if_needed()  # the report and its chart, as a person scrolls to them
    screenshot(page, "forecast")
    page.reload()
    expect(page.get_by_test_id("summary")).to_have_text(summary, timeout=30_000)
    # The server goes on answering the API as before.
    reply = console.request("PUT", "/v2/customer_profiles/AFTER?runRuleEngine=true", {})
    assert [e["effectType"] for e in reply.body["effects"]] == ["referralCreated"]


def test_bad_parameters_say_why_and_keep_the_form(page, console: Server) -> None:
    signed_in(page, "/forecast")
    reply = page.goto("/forecast?customers=100&days=5&referral-rate=2&run=1")
    assert reply is not None and reply.status == 400
    expect(page.get_by_test_id("forecast-error")).to_have_text(
        "--referral-rate: a share from 0 to 1, got 2.0"
    )
    expect(page.locator("#f-referral-rate")).to_have_value("2")
    expect(page.get_by_test_id("report")).to_have_count(0)
    reply = page.goto("/forecast?customers=many&run=1")
    assert reply is not None and reply.status == 400
    expect(page.get_by_test_id("forecast-error")).to_have_text(
        "--customers: a whole number, got 'many'"
    )
    # Too long without --yes: the CLI's estimate and how to go on.
    reply = page.goto("/forecast?customers=1000000&friends-per-advocate=10&run=1")
    assert reply is not None and reply.status == 400
    expect(page.get_by_test_id("forecast-error")).to_contain_text("pass --yes to run it")
