"""Playwright driving Debian's Chromium against a live Django server.

The browser is ``/usr/bin/chromium`` from Debian's ``chromium`` package; Playwright never
downloads one. Locally without it the tests skip and say how to get it; under CI=true
they fail. Screenshots go to ``test-artifacts/screenshots/`` and their paths are printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import in_ci

CHROMIUM = Path(os.environ.get("MEISA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",  # the machine has no network: don't try
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
STAFF_PASSWORD = "browser-test-password"


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not _playwright_importable():
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not missing:
        return
    message = "browser tests need " + " and ".join(sorted(set(missing)))
    if in_ci():
        pytest.fail(f"{message}; CI=true requires them.", pytrace=False)
    pytest.skip(message)


def _playwright_importable() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test
    # bodies stay synchronous and safe. Set here, so only browser runs relax the check.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(transactional_db: None, chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies) pointed at the live server.

    ``transactional_db`` comes first: the test database (a file, see tests/conftest.py)
    must exist before the session's live server starts, or the server would share one
    in-memory connection across threads; and the tab must close (no request in flight)
    before the database is flushed at teardown.
    """
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(browser_page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("step")`` saves a full-page PNG and prints its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{len(taken) + 1:02d}-{step}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        print(f"\nscreenshot: {path}")
        return path

    return take


@pytest.fixture
def staff_user(transactional_db: None) -> Any:
    """A staff user (not a superuser) holding every django_meisa permission."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        username="staff", email="staff@example.com", password=STAFF_PASSWORD, is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_meisa"))
    return user


@pytest.fixture
def http_meisa(settings: Any) -> Iterator[Any]:
    """The local Meisa over HTTP in a thread, with MEISA pointed at it for the live server."""
    from django_meisa.testing.fake import FakeMeisa
    from django_meisa.testing.server import serve_in_thread

    fake = FakeMeisa(api_key="meisa_browser_key")
    server, base_url = serve_in_thread(fake)
    settings.MEISA = {**settings.MEISA, "API_KEY": fake.api_key, "BASE_URL": base_url}
    yield fake
    server.stop()


def log_in(page: Any, user: Any) -> None:
    """Log ``user`` in through the admin's login form and land on the admin index."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
