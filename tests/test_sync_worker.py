"""Contact sync end to end through a REAL Celery worker (2 threads, memory broker)."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from tests.sync_support import make_user, settled, state_of, wait_until
from tests.testapp.models import Profile, Subscription

pytestmark = pytest.mark.usefixtures("celery_worker_threads", "transactional_db")


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "profile.plan", "subscriptions": "subscriptions.count"},
        "SYNC_RETRY_BACKOFF": 0.01,
        "SYNC_RETRY_BACKOFF_MAX": 0.05,
        "SYNC_TRIGGERS": {"testapp.Subscription": "user"},
    }


def test_create_sends_signup_then_update_sends_api(meisa_fake):
    user = make_user("ada")
    wait_until(lambda: len(meisa_fake.upserts) == 1)
    assert meisa_fake.upserts[0]["source"] == "signup"
    assert meisa_fake.upserts[0]["external_id"] == str(user.pk)
    user.first_name = "Ada"
    user.save()
    wait_until(lambda: len(meisa_fake.upserts) == 2)
    assert meisa_fake.upserts[1]["source"] == "api"
    assert meisa_fake.contact("ada@example.com")["first_name"] == "Ada"
    wait_until(lambda: settled(user))
    assert state_of(user).signup_pending is False


def test_rollback_sends_nothing(meisa_fake):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_user("ghost")
        raise RuntimeError("roll back")
    time.sleep(0.3)
    assert meisa_fake.requests == []
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_ten_saves_in_one_transaction_send_one_upsert(meisa_fake):
    with transaction.atomic():
        user = make_user("ten")
        for n in range(10):
            user.last_name = f"Save {n}"
            user.save()
    wait_until(lambda: settled(user))
    time.sleep(0.2)
    assert len(meisa_fake.upserts) == 1
    assert meisa_fake.upserts[0]["last_name"] == "Save 9"
    assert meisa_fake.upserts[0]["source"] == "signup"
