"""No stale overwrite: racing workers leave Meisa with the user's latest committed state.

Runs on SQLite by default and on PostgreSQL with ``MEISA_TEST_DATABASE=postgres``.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time

import pytest
from django.utils import timezone

from django_meisa.contacts.requests import bump_version
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.models import UserSyncState
from tests.services import require_postgres
from tests.sync_support import acquire_lease, make_user, settled, state_of, wait_until
from tests.testapp.models import Profile

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def race_settings(settings):
    if os.environ.get("MEISA_TEST_DATABASE") == "postgres":
        require_postgres()
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "profile.plan"},
        "SYNC_TRIGGERS": {"testapp.Profile": "user"},
        "SYNC_RETRY_BACKOFF": 0.01,
        "SYNC_RETRY_BACKOFF_MAX": 0.05,
    }


class SlowMeisa:
    """Wraps FakeMeisa.handle: each request travels for a while before Meisa applies it,
    so two in-flight upserts for one user could land in either order. Counts overlap."""

    def __init__(self, fake, delay):
        self.fake = fake
        self.handle = fake.handle
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, method, path, headers, body):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay())
            return self.handle(method, path, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1


def plan_in_meisa(fake, email):
    return (fake.contact(email) or {}).get("custom_fields", {}).get("plan")


@pytest.mark.usefixtures("celery_worker_threads")
def test_racing_worker_threads_end_with_the_latest_state(meisa_fake, monkeypatch):
    slow = SlowMeisa(meisa_fake, lambda: random.uniform(0.005, 0.06))
    monkeypatch.setattr(meisa_fake, "handle", slow)
    user = make_user("racer")
    profile = Profile.objects.create(user=user, plan="plan-0")
    for n in range(1, 16):
        profile.plan = f"plan-{n}"
        profile.save()
        time.sleep(random.uniform(0, 0.03))
    wait_until(lambda: settled(user), timeout=30)
    assert plan_in_meisa(meisa_fake, "racer@example.com") == "plan-15"
    assert meisa_fake.upserts[-1]["custom_fields"]["plan"] == "plan-15"
    # The lease serialized the upserts of this user across both worker threads.
    assert slow.max_in_flight == 1
    assert state_of(user).synced_version == state_of(user).version


@pytest.mark.usefixtures("celery_worker_threads")
def test_a_change_committed_during_a_slow_upsert_is_sent_after_it(meisa_fake, monkeypatch):
    user = make_user("slowpoke")
    profile = Profile.objects.create(user=user, plan="old")
    wait_until(lambda: settled(user) and plan_in_meisa(meisa_fake, "slowpoke@example.com"))
    slow = SlowMeisa(meisa_fake, lambda: 0.4)
    monkeypatch.setattr(meisa_fake, "handle", slow)
    profile.plan = "middle"
    profile.save()
    wait_until(lambda: slow.in_flight == 1)  # "middle" is on its way to Meisa...
    profile.plan = "new"
    profile.save()  # ...when "new" is committed, and its task finds the lease held.
    wait_until(lambda: settled(user) and slow.in_flight == 0, timeout=15)
    plans = [u["custom_fields"]["plan"] for u in meisa_fake.upserts]
    assert plans[-2:] == ["middle", "new"]
    assert plan_in_meisa(meisa_fake, "slowpoke@example.com") == "new"
    assert slow.max_in_flight == 1


def test_two_threads_calling_sync_contact_now_never_send_an_older_state(meisa_fake, monkeypatch):
    from django.db import connection

    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **options: None)
    user = make_user("threads")
    Profile.objects.create(user=user, plan="start")
    slow = SlowMeisa(meisa_fake, lambda: random.uniform(0.01, 0.05))
    monkeypatch.setattr(meisa_fake, "handle", slow)
    results = []

    def worker():
        try:
            for _ in range(6):
                results.append(sync_contact_now(user.pk).result)
                time.sleep(random.uniform(0, 0.02))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(8):
        Profile.objects.filter(user=user).update(plan=f"p{n}")
        bump_version(user.pk, created=False, using="default")
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    # The module's Celery worker may be syncing this user too: wait for the lease.
    final = wait_until(lambda: (o := sync_contact_now(user.pk)).result != "busy" and o)
    assert final.result in {"synced", "up_to_date", "unchanged"}
    assert plan_in_meisa(meisa_fake, "threads@example.com") == "p7"
    assert slow.max_in_flight == 1
    assert "busy" in results or len(results) == 12


def test_a_held_lease_makes_other_callers_busy_until_it_expires(meisa_fake, monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **options: None)
    user = make_user("leased")
    sync_contact_now(user.pk)
    lease = acquire_lease(user.pk)
    assert lease is not None
    assert acquire_lease(user.pk) is None
    outcome = sync_contact_now(user.pk, force=True)
    assert outcome.result == "busy"
    assert outcome.retry_in > 0
    lease.release()
    assert sync_contact_now(user.pk, force=True).result == "synced"
    # A worker killed while holding the lease: it expires, and the next caller takes over.
    dead = acquire_lease(user.pk)
    assert dead is not None
    UserSyncState.objects.filter(user_id=user.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert sync_contact_now(user.pk, force=True).result == "synced"
    assert dead.renew() is False
