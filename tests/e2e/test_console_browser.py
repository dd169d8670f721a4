"""The web console in a real browser (Debian's Chromium, driven by Playwright), through one
address with the real registry behind nginx: sign in, tokens, pushes, repositories, the
administrator's pages, sign-out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import chromium, screenshot
from one_origin import ROOT_PASSWORD, OneOrigin
from playwright.sync_api import Browser, BrowserContext, Page, expect

__all__ = ["chromium"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OneOrigin]:
    with OneOrigin(tmp_path_factory.mktemp("console-browser")) as running:
        yield running


@pytest.fixture
def context(chromium: Browser, stack: OneOrigin) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=stack.url, viewport={"width": 1200, "height": 800})
    context.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    yield context
    context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {username}")


def test_sign_in_and_sign_out_ends_the_session(context: BrowserContext, stack: OneOrigin) -> None:
    page = context.new_page()
    page.goto("/login")
    screenshot(page, "sign-in")
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#e-password")).to_have_text("Wrong user name or password.")
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, root")
    screenshot(page, "home")
    old = [c for c in context.cookies() if c["name"] == "regauth_session"]
    assert old and old[0]["httpOnly"] and old[0]["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    # the old cookie, put back by hand, no longer opens the console
    context.add_cookies(old)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_the_console_fits_a_phone(chromium: Browser, stack: OneOrigin, tmp_path: Path) -> None:
    context = chromium.new_context(base_url=stack.url, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        sign_in(page, "root", ROOT_PASSWORD)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the home page scrolls sideways on a phone ({width}px)"
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert "Skip to content" in focused
    finally:
        context.close()
