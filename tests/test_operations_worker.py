"""Operator features through a REAL Celery worker: related rows, deleted users, who syncs."""

from __future__ import annotations

import pytest

from django_meisa.models import MeisaSyncResult, PendingDeletion
from tests.sync_support import make_user, settled, state_of, wait_until
from tests.testapp.models import Profile

pytestmark = pytest.mark.usefixtures("celery_worker_threads", "transactional_db")


@pytest.fixture(autouse=True)
def settings_for_worker(settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "profile.plan"},
        "SYNC_RETRY_BACKOFF": 0.01,
        "SYNC_RETRY_BACKOFF_MAX": 0.05,
        "SYNC_LOGIN_DELAY": 0.1,
    }


def test_saving_a_profile_reaches_meisa_without_sync_triggers(meisa_fake):
    user = make_user("ada")
    wait_until(lambda: settled(user))
    profile = Profile.objects.create(user=user, plan="pro")
    wait_until(lambda: (meisa_fake.contact("ada@example.com") or {}).get("custom_fields", {})
               .get("plan") == "pro")  # fmt: skip
    profile.plan = "team"
    profile.save()
    wait_until(lambda: meisa_fake.contact("ada@example.com")["custom_fields"]["plan"] == "team")


def test_a_deleted_user_gets_the_tag_through_the_worker(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "DELETED_USER_TAG": "account-deleted"}
    user = make_user("ada")
    wait_until(lambda: settled(user))
    user.delete()
    wait_until(lambda: not PendingDeletion.objects.exists())
    tags = [tag["name"] for tag in meisa_fake.contact("ada@example.com")["tags"]]
    assert tags == ["account-deleted"]


def test_an_ineligible_signup_sends_nothing(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "SYNC_USERS_FILTER": {"is_staff": False}}
    boss = make_user("boss", is_staff=True)
    member = make_user("ada")
    wait_until(lambda: settled(boss) and settled(member))
    assert [u["email"] for u in meisa_fake.upserts] == ["ada@example.com"]
    assert state_of(boss).last_result == MeisaSyncResult.SKIPPED_INELIGIBLE
