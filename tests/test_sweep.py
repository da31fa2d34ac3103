"""The sweep: which pending syncs it re-enqueues, in bounded batches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from django_meisa.contacts.sweep import pending_syncs, sweep_pending_syncs
from django_meisa.models import UserSyncState
from tests.sync_support import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr("django_meisa.contacts.sweep.publish_syncs", lambda pks: calls.extend(pks))
    return calls


@pytest.fixture
def users(settings):
    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 60, "SWEEP_BATCH_SIZE": 100}
    return [make_user(f"user{n}") for n in range(6)]


def age(user, seconds, **fields):
    """Make the user's pending sync ``seconds`` old, with extra field values."""
    since = timezone.now() - dt.timedelta(seconds=seconds)
    UserSyncState.objects.filter(user=user).update(pending_since=since, **fields)


def test_only_old_live_pending_rows_are_re_enqueued(users, published):
    old, fresh, failed, leased, expired_lease, done = users
    age(old, 120)
    age(fresh, 10)
    age(failed, 120, failed_version=1)
    age(leased, 120, lease_until=timezone.now() + dt.timedelta(seconds=30))
    age(expired_lease, 120, lease_until=timezone.now() - dt.timedelta(seconds=1))
    age(done, 120, synced_version=1)
    assert sweep_pending_syncs() == 2
    assert sorted(published) == sorted([old.pk, expired_lease.pk])


def test_swept_rows_wait_sweep_after_before_the_next_run(users, published):
    UserSyncState.objects.exclude(user=users[0]).update(synced_version=1)
    age(users[0], 120)
    assert sweep_pending_syncs() == 1
    assert UserSyncState.objects.get(user=users[0]).swept_at is not None
    assert sweep_pending_syncs() == 0
    later = timezone.now() + dt.timedelta(seconds=61)
    assert sweep_pending_syncs(now=later) == 1
    assert published == [users[0].pk, users[0].pk]


def test_a_permanently_failed_user_is_swept_again_after_a_new_change(users, published):
    user = users[0]
    age(user, 120, failed_version=1)
    assert sweep_pending_syncs() == 0
    UserSyncState.objects.filter(user=user).update(version=2)
    assert sweep_pending_syncs() == 1


def test_batches_are_bounded_oldest_first(users, published, settings):
    settings.MEISA = {**settings.MEISA, "SWEEP_BATCH_SIZE": 2}
    for n, user in enumerate(users):
        age(user, 1000 - n)
    assert sweep_pending_syncs() == 2
    assert published == [users[0].pk, users[1].pk]
    assert sweep_pending_syncs() == 2
    assert published[2:] == [users[2].pk, users[3].pk]


def test_disabled_sweeps_nothing(users, published, settings):
    age(users[0], 120)
    settings.MEISA = {**settings.MEISA, "ENABLED": False}
    assert sweep_pending_syncs() == 0
    assert published == []


def test_the_periodic_task_runs_the_sweep(users, published):
    from django_meisa.tasks import sweep_pending_syncs as task

    age(users[0], 120)
    assert task() == 1
    assert pending_syncs().count() == 0


def exhaust(user, seconds=120, attempts=9):
    """A version that kept failing retryably: ``attempts`` 5xx in a row, still pending."""
    age(user, seconds, attempts=attempts, last_result="failed_retryable", last_error="502")


@pytest.fixture
def failed_signals():
    from django_meisa.signals import contact_sync_failed

    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    contact_sync_failed.connect(receiver)
    yield calls
    contact_sync_failed.disconnect(receiver)


def test_a_version_failing_for_the_give_up_cycles_is_marked_failed_like_a_4xx(
    users, published, settings, failed_signals
):
    from django_meisa.exceptions import MeisaRetriesExhaustedError

    settings.MEISA = {**settings.MEISA, "SYNC_MAX_RETRIES": 2, "SYNC_GIVE_UP_AFTER_SWEEPS": 3}
    UserSyncState.objects.exclude(user__in=users[:2]).update(synced_version=1)
    exhausted, still_trying = users[:2]
    exhaust(exhausted, attempts=9)  # 3 cycles of 3 attempts
    exhaust(still_trying, attempts=8)
    assert sweep_pending_syncs() == 1
    assert published == [still_trying.pk]
    state = UserSyncState.objects.get(user=exhausted)
    assert state.is_failed
    assert (state.last_result, state.attempts) == ("failed_permanent", 0)
    assert "last error: 502" in state.last_error
    [signal] = failed_signals
    assert (signal["user_pk"], signal["retryable"]) == (exhausted.pk, False)
    assert isinstance(signal["error"], MeisaRetriesExhaustedError)


def test_a_given_up_user_is_synced_again_when_it_changes(users, published, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_MAX_RETRIES": 2, "SYNC_GIVE_UP_AFTER_SWEEPS": 1}
    UserSyncState.objects.exclude(user=users[0]).update(synced_version=1)
    exhaust(users[0], attempts=3)
    assert sweep_pending_syncs() == 0
    UserSyncState.objects.filter(user=users[0]).update(version=2)
    assert sweep_pending_syncs() == 1


def test_exhausted_rows_never_starve_newer_pending_ones(users, published, settings):
    settings.MEISA = {
        **settings.MEISA,
        "SWEEP_BATCH_SIZE": 2,
        "SYNC_MAX_RETRIES": 0,
        "SYNC_GIVE_UP_AFTER_SWEEPS": 1,
    }
    oldest_a, oldest_b, newer = users[:3]
    UserSyncState.objects.exclude(user__in=users[:3]).update(synced_version=1)
    exhaust(oldest_a, seconds=1000)
    exhaust(oldest_b, seconds=900)
    age(newer, 120)
    assert sweep_pending_syncs() == 1
    assert published == [newer.pk]


def test_none_retries_forever(users, published, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_GIVE_UP_AFTER_SWEEPS": None}
    UserSyncState.objects.exclude(user=users[0]).update(synced_version=1)
    exhaust(users[0], attempts=1000)
    assert sweep_pending_syncs() == 1
