"""Browser tests: Playwright for Python driving Debian's Chromium, headless, against a live server.

Chromium is the system's (``CHROMIUM_PATH``, else ``chromium`` on PATH; ``make test`` installs
Debian's package when it is missing, see tests/system_tools.py): Playwright's own browser
download is never used. Screenshots go to the test's temporary
folder; with ``UPDATE_SCREENSHOTS=1`` they are also written to ``docs/screenshots/`` (the
README's pictures), so an ordinary run never rewrites tracked files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The support and superuser accounts of the admin tests, the Support group made as its migration makes it.
from tests.daraja.admin.conftest import superuser, support_user  # noqa: F401
from tests.system_tools import chromium as find_chromium

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls (the
    # worker, the assertions) are synchronous code that Django would otherwise refuse there.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = find_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


LAPTOP = {"width": 1366, "height": 768}  # a common support laptop: every page must fit it
PHONE = {"width": 390, "height": 844}


def new_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    context, page = new_page(browser, LAPTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context, page = new_page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, tmp_path):
    """Save a full-page PNG of ``page`` as ``name``.png; returns its path (checked to be a real PNG)."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, f"{name}.png is not a real screenshot"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    return take


def log_in(page, live_server, username: str, password: str) -> None:
    """Log in through the admin's own login form, as a person would."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
