"""Pytest plugin: the system Chromium driven by Playwright against the live server and the sandbox.

Fixtures:
- `browser_page`: a fresh headless page (its own cookies) whose relative URLs go to the live server;
  the sandbox is reset and the app's settings point at it (the `org` fixture).
- `sign_in(user)`: signs the page in through the login form (users from `make_user` and friends).
- `screenshot(name)`: saves the whole page to artifacts/<name>.png.

Helpers for a page that follows a revocation: `run_in_background(case_id)` runs it from a thread (the
django-q2 cluster does not run in tests), `follow_progress(page, done)` moves the page's fake clock on one
poll at a time until `done()`.

Chromium missing: the browser tests are skipped with the reason, except under CI=true where it is a failure.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from offboarding import revocation
from tests.factories import PASSWORD

ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Two slow cores: generous, so nothing is timing-sensitive; a real hang still fails.
TIMEOUT_MS = 20_000
POLL_MS = 1500  # static/js/case-progress.js's interval


def run_in_background(case_id: int) -> threading.Thread:
    def work() -> None:
        try:
            revocation.run_case(case_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"revoke-{case_id}")
    thread.start()
    return thread


def follow_progress(page, done, timeout: float = 30) -> None:
    """Move the page's fake clock on to its next poll of the case's progress, and wait for that answer,
    until `done()` (the revocation runs for real meanwhile).

    The installed clock also flows on its own, so a poll can be answered between `done()` and listening for
    the next answer; when that answer was the last (the page stops polling once the run is over), no answer
    comes: waiting for one is bounded, and `done()` is asked again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the page never showed the revocation finished"
        try:
            with page.expect_response(lambda response: response.url.endswith("/progress"), timeout=POLL_MS * 2):
                page.clock.run_for(POLL_MS * 4)  # (the page waits four intervals after a failed poll)
        except PlaywrightTimeout:
            pass


def chromium_executable() -> str | None:
    """CHROMIUM_PATH when set (an empty value means: act as if there were none), else the one on PATH."""
    if "CHROMIUM_PATH" in os.environ:
        return shutil.which(os.environ["CHROMIUM_PATH"]) if os.environ["CHROMIUM_PATH"] else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = chromium_executable()
    if path is None:
        message = "Chromium is not installed (Debian package `chromium`): browser tests cannot run"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}, and CI=true requires them.")
        pytest.skip(f"{message}; install it with `apt-get install chromium` to run them.")
    return path


def pytest_collection_modifyitems(items):
    """The browser tests run last (after pytest-django's own ordering), so one Chromium serves them all
    and every other test keeps Django's check against database calls from async code (see `browser`)."""
    items[:] = sorted(items, key=lambda item: "browser" in getattr(item, "fixturenames", ()))


pytest_collection_modifyitems = pytest.hookimpl(trylast=True)(pytest_collection_modifyitems)


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One Chromium for the run, started by the first browser test (they run last).

    Playwright's sync API keeps an event loop running in this thread while it is started, which
    Django would take for async code; the ORM calls the tests make here are synchronous, so
    allow them, for as long as the browser lives only: from the first browser test to the end.
    """
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def browser_page(browser, live_server, org):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(browser_page):
    def sign_in_as(user, next_url: str = "/") -> None:
        page = browser_page
        page.goto(f"{reverse('login')}?next={next_url}")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**{next_url}")

    return sign_in_as


@pytest.fixture
def screenshot(browser_page):
    def save(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return save
