"""Debian's Chromium driven by Playwright (see shared/docs/test-peers.md): never
``playwright install``; the browser is ``/usr/bin/chromium`` with the flags that keep it off
the network."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "chromium not found: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a screenshot of a main page for the README (``docs/screenshots/NAME.png``); a
    very long page is better shown by its first screen (``full_page=False``).

    The README's images are rewritten only with ``REGAUTH_SCREENSHOTS=1``; otherwise the page
    is still rendered to an image (a page that cannot be drawn fails the test), in a temporary
    folder, so a test run leaves the checkout as it was."""
    folder = SCREENSHOTS if os.environ.get("REGAUTH_SCREENSHOTS") == "1" else _scratch()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def _scratch() -> Path:
    return Path(tempfile.gettempdir()) / f"regauth-screenshots-{os.getpid()}"
