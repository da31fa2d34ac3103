"""The suppression admin in a real browser: refresh now, search, check an address."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LIST_URL = "/admin/django_meisa/suppressedemail/"
LISTED = ["bounced@example.com", "gone@example.com", "complained@example.org"]


def test_staff_refreshes_searches_and_checks_addresses(
    browser_page: Any, staff_user: Any, http_meisa: Any, screenshot: Any
) -> None:
    page = browser_page
    http_meisa.add_unsubscribed(*LISTED)
    log_in(page, staff_user)

    page.goto(LIST_URL)
    assert "Never refreshed." in page.locator("#meisa-refresh-state").inner_text()
    screenshot("never-refreshed")

    page.click("input[type=submit][value='Refresh now']")
    page.wait_for_url(f"**{LIST_URL}")
    assert "Refreshed: " in page.locator(".messagelist").inner_text()
    assert "added 3" in page.locator("#meisa-refresh-state").inner_text()
    assert set(LISTED) <= set(page.locator("#result_list").inner_text().split())
    screenshot("refreshed")

    page.fill("#searchbar", "BOUNCED@example.com")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**?q=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "bounced@example.com" in rows.first.inner_text()
    screenshot("searched")

    page.click("text=Check an address")
    page.fill("#id_address", "  Gone@EXAMPLE.com ")
    page.click("input[type=submit][value='Check']")
    verdict = page.locator("#meisa-verdict").inner_text()
    assert "Suppressed: the email backend would NOT send to it." in verdict
    assert "gone@example.com" in verdict
    screenshot("checked-suppressed")

    page.fill("#id_address", "welcome@example.com")
    page.click("input[type=submit][value='Check']")
    assert "Not suppressed" in page.locator("#meisa-verdict").inner_text()
    screenshot("checked-sendable")


def test_refresh_failure_is_reported_and_the_list_kept(
    browser_page: Any, staff_user: Any, http_meisa: Any, screenshot: Any
) -> None:
    page = browser_page
    http_meisa.add_unsubscribed(*LISTED)
    log_in(page, staff_user)
    page.goto(LIST_URL)
    page.click("input[type=submit][value='Refresh now']")
    http_meisa.inject_fault("server_error", times=1, status=503)

    page.click("input[type=submit][value='Refresh now']")

    assert "Refresh failed; the list is unchanged" in page.locator(".messagelist").inner_text()
    assert set(LISTED) <= set(page.locator("#result_list").inner_text().split())
    assert "503" in page.locator("#meisa-refresh-state").inner_text()
    screenshot("refresh-failed")
