"""django-health-check checks: mirror freshness, sync backlog, API key from recorded outcomes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.utils import timezone

from django_meisa.models import MeisaSyncResult, SuppressionRefreshState, UserSyncState
from tests.services import in_ci
from tests.sync_support import make_user

try:
    from django_meisa.health import MeisaAPIKey, MeisaMirrorFresh, MeisaSyncBacklog
except ImportError:  # pragma: no cover - the optional extra is missing
    if in_ci():
        raise
    pytest.skip("django-health-check is not installed (pip install -e '.[health]')",
                allow_module_level=True)  # fmt: skip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def error_of(check):
    return asyncio.run(check.get_result()).error


def ago(**kwargs):
    return timezone.now() - dt.timedelta(**kwargs)


def test_the_mirror_must_have_been_refreshed_recently(settings):
    assert "never refreshed" in str(error_of(MeisaMirrorFresh()))
    SuppressionRefreshState.objects.create(pk=1, last_success_at=ago(minutes=5))
    assert error_of(MeisaMirrorFresh()) is None
    SuppressionRefreshState.objects.filter(pk=1).update(last_success_at=ago(minutes=59))
    assert error_of(MeisaMirrorFresh()) is None  # default: SUPPRESSION_MAX_AGE, 4 x 900 s
    SuppressionRefreshState.objects.filter(pk=1).update(last_success_at=ago(hours=2))
    assert "old" in str(error_of(MeisaMirrorFresh()))
    settings.MEISA = {**settings.MEISA, "HEALTH_MAX_MIRROR_AGE": 60}
    SuppressionRefreshState.objects.filter(pk=1).update(last_success_at=ago(minutes=5))
    assert "allowed: 60 s" in str(error_of(MeisaMirrorFresh()))


def test_the_backlog_fails_above_either_threshold(settings):
    settings.MEISA = {**settings.MEISA, "HEALTH_MAX_PENDING": 1, "HEALTH_MAX_PENDING_AGE": 600}
    make_user("ada")
    assert error_of(MeisaSyncBacklog()) is None
    make_user("bob")
    assert "2 contact syncs pending" in str(error_of(MeisaSyncBacklog()))
    UserSyncState.objects.update(pending_since=None)
    UserSyncState.objects.filter(user__username="ada").update(pending_since=ago(hours=1))
    assert "waits for" in str(error_of(MeisaSyncBacklog()))


def test_a_recent_401_fails_the_key_check_until_something_succeeds(django_assert_num_queries):
    user = make_user("ada")
    assert error_of(MeisaAPIKey()) is None
    UserSyncState.objects.filter(user=user).update(
        last_result=MeisaSyncResult.FAILED_PERMANENT,
        last_error="MeisaAuthError: Meisa POST /contacts/upsert/ returned HTTP 401",
        last_error_at=ago(minutes=1),
    )
    assert "refused the API key" in str(error_of(MeisaAPIKey()))
    SuppressionRefreshState.objects.create(pk=1, last_success_at=timezone.now())
    assert error_of(MeisaAPIKey()) is None


def test_a_refresh_refused_with_403_fails_the_key_check():
    SuppressionRefreshState.objects.create(
        pk=1,
        last_success_at=ago(hours=1),
        last_error="MeisaAuthError: Meisa GET /contacts/api/unsubscribed-emails/ returned HTTP 403",
        last_error_at=ago(minutes=1),
    )
    assert error_of(MeisaAPIKey()) is not None


def test_no_check_calls_meisa(meisa_fake):
    SuppressionRefreshState.objects.create(pk=1, last_success_at=timezone.now())
    for check in (MeisaMirrorFresh(), MeisaSyncBacklog(), MeisaAPIKey()):
        error_of(check)
    assert meisa_fake.requests == []


def test_thresholds_are_checked(settings):
    from django_meisa.contacts.checks import scope_messages

    settings.MEISA = {**settings.MEISA, "HEALTH_MAX_PENDING": 0, "HEALTH_MAX_PENDING_AGE": "1h"}
    assert [m.id for m in scope_messages()] == ["meisa.E074", "meisa.E074"]
