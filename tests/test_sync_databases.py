"""Routers and aliases: the sync reads state and user on the write alias, never a stale replica."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from django_meisa.contacts.decide import payload_fingerprint
from django_meisa.contacts.mapping import build_contact_payload
from django_meisa.contacts.requests import request_sync
from django_meisa.contacts.sweep import sweep_pending_syncs
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.models import UserSyncState
from tests.backfill_support import backfill, make_users
from tests.sync_support import make_user

REPLICA = "stale_replica"


class ReplicaRouter:
    """Reads go to the replica, writes to the primary (a typical primary/replica setup)."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, *args: Any, **hints: Any) -> bool:
        return True


@pytest.fixture
def replica():
    """The ``stale_replica`` alias (tests/settings.py), to be filled with stale rows."""
    return REPLICA


#: The tests use both databases (the replica is a separate SQLite database).
BOTH = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


def copy_to(alias: str, user: Any, **user_fields: Any) -> None:
    """Copy ``user`` and its state row to ``alias``, with ``user_fields`` changed."""
    stale = get_user_model().objects.get(pk=user.pk)
    for name, value in user_fields.items():
        setattr(stale, name, value)
    stale.save(using=alias, force_insert=True)
    # The save's own sync request bumped a row there: replace it with the primary's.
    UserSyncState.objects.using(alias).filter(user_id=user.pk).delete()
    UserSyncState.objects.using("default").get(user_id=user.pk).save(using=alias, force_insert=True)


@pytest.fixture
def lagging(replica, settings, monkeypatch, meisa_fake):
    """A user changed on the primary (pending, version 2) whose replica copy lags behind.

    The replica still shows the old name, and a state that looks synced: a worker
    reading it would either skip the change or send the old name as version 2.
    """
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda *a, **k: None)
    user = make_user("lag", first_name="Old")
    assert sync_contact_now(user.pk).sent
    copy_to(replica, user)
    get_user_model().objects.filter(pk=user.pk).update(first_name="New")
    request_sync(user.pk)
    settings.DATABASE_ROUTERS = ["tests.test_sync_databases.ReplicaRouter"]
    assert UserSyncState.objects.using("default").get(user_id=user.pk).is_pending
    assert not UserSyncState.objects.get(user_id=user.pk).is_pending  # the stale read
    return user


def primary_state(user: Any) -> UserSyncState:
    return UserSyncState.objects.using("default").get(user_id=user.pk)


@BOTH
def test_the_worker_never_records_a_stale_payload_as_synced(lagging, meisa_fake):
    outcome = sync_contact_now(lagging.pk)
    assert outcome.sent
    assert meisa_fake.upserts[-1]["first_name"] == "New"
    state = primary_state(lagging)
    assert (state.synced_version, state.version) == (2, 2)
    fresh = get_user_model().objects.using("default").get(pk=lagging.pk)
    assert state.payload_fingerprint == payload_fingerprint(build_contact_payload(fresh))


@BOTH
def test_the_sweep_finds_pending_rows_on_the_primary(lagging, settings, monkeypatch):
    published = []
    monkeypatch.setattr(
        "django_meisa.contacts.sweep.publish_syncs", lambda pks, **k: published.extend(pks)
    )
    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 0}
    UserSyncState.objects.using("default").filter(user_id=lagging.pk).update(
        pending_since=timezone.now() - timezone.timedelta(seconds=5)
    )
    assert sweep_pending_syncs() == 1
    assert published == [lagging.pk]


@BOTH
def test_the_backfill_sends_what_the_primary_holds(lagging, meisa_fake):
    backfill("--inline", "--force")
    assert meisa_fake.upserts[-1]["first_name"] == "New"
    assert meisa_fake.upserts[-1]["source"] == "initial_sync"
    assert primary_state(lagging).synced_version == 2


@BOTH
def test_using_from_the_signal_travels_to_the_worker(replica, meisa_fake, monkeypatch):
    published = []
    monkeypatch.setattr(
        "django_meisa.contacts.publisher.publish_now",
        lambda pks, **options: published.append((list(pks), options["kwargs"])),
    )
    user = make_user("elsewhere", first_name="There")
    copy_to(replica, user, first_name="Replica copy")
    UserSyncState.objects.using(replica).filter(user_id=user.pk).update(version=0)
    request_sync(user.pk, using=replica)  # e.g. post_save(using=...) from user.save(using=...)
    assert published[-1] == ([user.pk], {"using": replica})
    assert sync_contact_now(user.pk, using=replica).sent
    assert meisa_fake.upserts[-1]["first_name"] == "Replica copy"
    assert UserSyncState.objects.using(replica).get(user_id=user.pk).synced_version == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_a_new_user_each_bump_the_version(monkeypatch):
    """The bump's one upsert statement under concurrency (ON CONFLICT / ON DUPLICATE KEY)."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; this runs in the PostgreSQL and MariaDB passes")
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda *a, **k: None)
    [user] = make_users(1)  # no state row yet: every thread races to create it
    barrier, errors = threading.Barrier(8), []

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                request_sync(user.pk)
                time.sleep(0.05)  # hold the row a moment, so the others wait on it
        except Exception as err:  # reported below: a thread's failure must fail the test
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = UserSyncState.objects.get(user_id=user.pk)
    assert (state.version, state.synced_version) == (8, 0)
