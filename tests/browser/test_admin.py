"""The django-meisa admin pages in a real browser, as a staff member uses them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_staff_logs_in_and_sees_django_meisa(
    browser_page: Any, staff_user: Any, screenshot: Any
) -> None:
    log_in(browser_page, staff_user)
    screenshot("admin-index")

    assert browser_page.locator("#user-tools").inner_text().upper().startswith("WELCOME, STAFF")
    meisa = browser_page.locator("#content-main .app-django_meisa").inner_text()
    assert "Suppressed emails" in meisa
    assert "User sync states" in meisa
