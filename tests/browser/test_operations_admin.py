"""The sync-state summary and the upsert preview in a real browser, as staff use them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def no_publish(monkeypatch: Any) -> None:
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def broken_plan(user: Any) -> Any:
    raise LookupError("no plan for this account")


def test_summary_then_preview_of_the_next_upsert(
    browser_page: Any, staff_user: Any, screenshot: Any, settings: Any, http_meisa: Any
) -> None:
    from django.contrib.auth import get_user_model

    from django_meisa.models import MeisaSyncResult, UserSyncState
    from tests.testapp.models import Profile

    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"plan": "profile.plan"}}
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    Profile.objects.create(user=ada, plan="pro")
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "pw")
    UserSyncState.objects.filter(user=bob).update(
        failed_version=1, version=1, last_result=MeisaSyncResult.FAILED_PERMANENT,
        last_error="MeisaRequestError: Meisa POST /contacts/upsert/ returned HTTP 422",
        pending_since=None,
    )  # fmt: skip
    log_in(browser_page, staff_user)

    browser_page.goto("/admin/django_meisa/usersyncstate/")
    summary = browser_page.locator("#meisa-summary")
    screenshot("summary")
    assert "Meisa at a glance" in summary.inner_text()
    assert "MeisaRequestError: 1" in browser_page.locator("#meisa-failed").inner_text()
    assert "never succeeded" in browser_page.locator("#meisa-refresh").inner_text()

    state = UserSyncState.objects.get(user=ada)
    browser_page.goto(f"/admin/django_meisa/usersyncstate/{state.pk}/change/")
    browser_page.click("text=Preview next upsert")
    browser_page.wait_for_selector("#meisa-preview-json")
    screenshot("preview")
    body = json.loads(browser_page.locator("#meisa-preview-json").inner_text())
    assert body["custom_fields"] == {"plan": "pro"}
    assert body["source"] == "signup"
    assert body["email"] == "ada@example.com"
    assert http_meisa.upserts == []  # a preview sends nothing


def test_a_failing_mapper_shows_its_message_and_field(
    browser_page: Any, staff_user: Any, screenshot: Any, settings: Any
) -> None:
    from django.contrib.auth import get_user_model

    from django_meisa.models import UserSyncState

    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "tests.browser.test_operations_admin.broken_plan"},
    }
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    state = UserSyncState.objects.get(user=ada)
    log_in(browser_page, staff_user)
    browser_page.goto(f"/admin/django_meisa/usersyncstate/{state.pk}/preview/")
    error = browser_page.locator("#meisa-preview-error")
    screenshot("mapper-error")
    text = error.inner_text()
    assert "CUSTOM_FIELDS.plan" in text
    assert "LookupError: no plan for this account" in text
    assert "Traceback" not in browser_page.content()
