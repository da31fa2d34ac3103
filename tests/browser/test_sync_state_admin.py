"""The per-user sync state admin in a real browser: see a user's state, press "sync now"."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LIST_URL = "/admin/django_meisa/usersyncstate/"


def test_staff_sees_a_pending_user_and_syncs_it_now(
    browser_page: Any, staff_user: Any, http_meisa: Any, screenshot: Any
) -> None:
    page = browser_page
    # No worker runs here: the save leaves Ada's sync pending, as with a stalled queue.
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "pw", first_name="Ada")
    log_in(page, staff_user)

    page.goto(f"{LIST_URL}?q=ada")
    row = page.locator("#result_list tbody tr").filter(has_text="ada")
    assert row.count() == 1
    assert "pending" in row.inner_text()
    screenshot("pending")

    row.locator("th a, td a").first.click()
    page.click("button:has-text('Sync now')")
    assert f"User {ada.pk}: synced" in page.locator(".messagelist").inner_text()
    details = page.locator("#content-main").inner_text()
    assert "active" in details  # Meisa's status for the contact, as returned
    assert http_meisa.contact("ada@example.com")["first_name"] == "Ada"
    assert http_meisa.api_key not in page.content()
    screenshot("synced")

    page.goto(f"{LIST_URL}?q=ada")
    assert "synced" in page.locator("#result_list tbody tr").first.inner_text()
    page.locator("#result_list tbody input.action-select").first.check()
    page.select_option("select[name=action]", "sync_now")
    page.click("button[name=index]")
    assert f"User {ada.pk}: synced" in page.locator(".messagelist").inner_text()
    assert len(http_meisa.upserts) == 2  # "sync now" forces a send even when unchanged
    screenshot("action")


def test_sync_now_reports_a_meisa_outage_without_leaking_the_key(
    browser_page: Any, staff_user: Any, http_meisa: Any, screenshot: Any
) -> None:
    page = browser_page
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    http_meisa.inject_fault("server_error", times=5, status=503)
    log_in(page, staff_user)

    page.goto(f"{LIST_URL}?q=ada")
    page.locator("#result_list tbody tr").first.locator("th a, td a").first.click()
    page.click("button:has-text('Sync now')")

    message = page.locator(".messagelist").inner_text()
    assert f"User {ada.pk}: failed (MeisaServerError); it will be retried" in message
    details = page.locator("#content-main").inner_text()
    assert "MeisaServerError: Meisa POST /contacts/upsert/ returned HTTP 503" in details
    assert "Failed Retryable" in details
    assert http_meisa.api_key not in page.content()
    assert http_meisa.upserts == []
    screenshot("outage")
