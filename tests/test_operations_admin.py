"""The sync-state admin: summary at a glance, the upsert preview, the shared-contact filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from django_meisa.models import (
    BackfillRun,
    MeisaSyncResult,
    SuppressedEmail,
    SuppressionRefreshState,
    UserSyncState,
)
from django_meisa.stats import meisa_stats
from tests.sync_support import make_user, state_of
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


@pytest.fixture
def staff(client):
    user = make_user("staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_usersyncstate"))
    client.force_login(user)
    return user


def broken(user):
    raise LookupError("no plan for this account")


def fail(user, error, *, version_bump=0):
    UserSyncState.objects.filter(user=user).update(
        failed_version=1 + version_bump,
        version=1 + version_bump,
        last_result=MeisaSyncResult.FAILED_PERMANENT,
        last_error=error,
        last_error_at=timezone.now(),
        pending_since=None,
    )


def test_stats_count_pending_failed_by_reason_refresh_and_backfill():
    ada, bob, cy = make_user("ada"), make_user("bob"), make_user("cy")
    old = timezone.now() - dt.timedelta(minutes=30)
    UserSyncState.objects.filter(user=ada).update(pending_since=old)
    fail(bob, "MeisaRequestError: Meisa POST /contacts/upsert/ returned HTTP 422")
    fail(cy, 'MeisaMappingError: MEISA["CUSTOM_FIELDS"]["plan"] raised KeyError')
    SuppressionRefreshState.objects.create(pk=1, last_success_at=old)
    SuppressedEmail.objects.create(email="gone@example.com")
    BackfillRun.objects.create(mode="inline", status="finished")
    stats = meisa_stats()
    assert stats.pending == 1
    assert 1790 < stats.oldest_pending_age < 1900
    assert stats.failed_by_reason == {"MeisaRequestError": 1, "MeisaMappingError": 1}
    assert stats.failed == 2
    assert 1790 < stats.refresh_age < 1900
    assert stats.mirror_size == 1
    assert stats.last_backfill["status"] == "finished"
    assert stats.refresh_counts == {"added": 0, "confirmed": 0, "removed": 0, "withheld": 0}
    assert stats.as_dict()["pending"] == 1  # JSON-ready for exporters


def test_the_changelist_shows_the_summary(client, staff):
    make_user("ada")
    fail(make_user("bob"), "MeisaRequestError: HTTP 422")
    page = client.get(reverse("admin:django_meisa_usersyncstate_changelist"))
    text = page.content.decode()
    assert 'id="meisa-summary"' in text
    assert "MeisaRequestError: 1" in text
    assert "never succeeded" in text
    assert "never run" in text


def test_the_preview_shows_the_exact_json_and_sends_nothing(client, staff, settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"plan": "profile.plan"}}
    user = make_user("ada")
    Profile.objects.create(user=user, plan="pro")
    url = reverse("admin:django_meisa_usersyncstate_preview", args=[state_of(user).pk])
    change = client.get(
        reverse("admin:django_meisa_usersyncstate_change", args=[state_of(user).pk])
    )
    assert url.encode() in change.content
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "&quot;plan&quot;: &quot;pro&quot;" in text
    assert "&quot;source&quot;: &quot;signup&quot;" in text
    assert meisa_fake.upserts == []


def test_a_raising_mapper_shows_message_and_field_not_a_traceback(client, staff, settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "tests.test_operations_admin.broken"},
    }
    user = make_user("ada")
    page = client.get(reverse("admin:django_meisa_usersyncstate_preview", args=[state_of(user).pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<code>CUSTOM_FIELDS.plan</code>" in text
    assert "LookupError: no plan for this account" in text
    assert "Traceback" not in text


def test_the_shared_contact_filter_lists_users_on_one_contact(client, staff):
    ada, twin, other = make_user("ada"), make_user("twin"), make_user("other")
    UserSyncState.objects.filter(user__in=[ada, twin]).update(contact_id="c-1")
    UserSyncState.objects.filter(user=other).update(contact_id="c-2")
    page = client.get(reverse("admin:django_meisa_usersyncstate_changelist") + "?contact=shared")
    rows = page.context["cl"].result_list
    assert {row.user_id for row in rows} == {ada.pk, twin.pk}
    assert meisa_stats().shared_contacts == 2


def test_the_same_email_filter_finds_duplicates_before_any_sync(client, staff):
    ada, twin = make_user("ada"), make_user("twin", email="ADA@example.com")
    make_user("other")
    page = client.get(reverse("admin:django_meisa_usersyncstate_changelist") + "?contact=email")
    assert {row.user_id for row in page.context["cl"].result_list} == {ada.pk, twin.pk}
