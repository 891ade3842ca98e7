"""The console in a real browser: Debian's Chromium (never a downloaded one) driven by Playwright,
against a real `refcamp serve` on localhost. Screenshots of each page (1280x800) go to
build/screenshots/ at the repository's root."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import KEY, Server, start

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
# As the machines' notes say Chromium must start here: no sandbox as root, and no background
# connections (this machine's closed network refuses them, many at a time).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that opens a browser is `slow` (a conftest's pytestmark marks nothing): the
    quick loop, `-m "not slow"`, leaves them out."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if item.path.is_relative_to(HERE) and ("page" in fixtures or "browser" in fixtures):
            item.add_marker(pytest.mark.slow)


def chromium() -> str:
    found = os.environ.get("REFCAMP_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "the console's tests need Chromium: `apt-get install chromium` (.ci/run does), "
            "or set REFCAMP_CHROMIUM to a Chromium binary"
        )
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def console(run, campaigns_dir: Path) -> Iterator[Server]:
    """A server on the seed campaigns (activated) with its console."""
    activated = run("campaign", "activate", "medium-referral")
    assert activated.exit_code == 0, activated
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser, console: Server) -> Iterator[object]:
    """A fresh browser tab (its own cookies and session storage), 1280x800, not signed in."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=f"http://127.0.0.1:{console.port}"
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page, key: str = KEY) -> None:
    page.goto("/login")
    page.fill("#key", key)
    page.click("#login button[type=submit]")


def screenshot(page, name: str) -> Path:
    """Save the page as build/screenshots/NAME.png (the viewport, as a person sees it first)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
