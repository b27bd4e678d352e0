"""Shared Playwright fixtures for browser tests (used by every tests/e2e module).

API (kept stable): the `browser_page` fixture yields a fresh Playwright `Page` in headless
Debian Chromium; `login(page, live_server, username, password)` signs in through the real
login form and waits until the app shell is shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def _playwright_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(_playwright_browser: Any) -> Iterator[Any]:
    """A fresh page in its own browser context (own cookies), 1280x900, 10 s timeouts."""
    context = _playwright_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


# Alias so tests may simply ask for `page`.
@pytest.fixture
def page(browser_page: Any) -> Any:
    return browser_page


def login(page: Any, live_server: Any, username: str, password: str) -> None:
    """Log in through the login form; returns once the logged-in layout is visible."""
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=user-menu]")
