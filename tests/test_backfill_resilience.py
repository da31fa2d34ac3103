"""meisa_backfill under 429 and 5xx storms, Ctrl-C, crashes and concurrent event syncs."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from unittest import mock

import pytest
from django.core.management import CommandError
from django.utils import timezone

from django_meisa.backfill import MeisaBackfillOptions, checkpoint, run_backfill
from django_meisa.models import BackfillChunk, BackfillRun, MeisaSyncResult, UserSyncState
from django_meisa.testing import fake_meisa
from tests.backfill_support import (
    InterruptingMeisa,
    StubClient,
    assert_each_once,
    backfill,
    make_users,
    upsert_counts,
)

pytestmark = pytest.mark.django_db


def test_a_429_storm_loses_no_user(meisa_fake):
    users = make_users(40)
    meisa_fake.inject_fault("rate_limit", times=60, retry_after=0)

    backfill("--chunk-size", "7", "--concurrency", "4")

    assert_each_once(meisa_fake, users)
    assert sum(r.status == 429 for r in meisa_fake.requests) == 60


def test_a_429_pauses_every_thread_for_its_retry_after(meisa_fake):
    users = make_users(8)
    meisa_fake.inject_fault("rate_limit", times=1, retry_after=1)

    started = time.monotonic()
    backfill("--concurrency", "4")

    assert time.monotonic() - started >= 1.0
    assert_each_once(meisa_fake, users)
    limited = next(i for i, r in enumerate(meisa_fake.requests) if r.status == 429)
    # After the 429 at most the requests already in flight went out before the pause.
    assert limited <= 4


def test_a_5xx_storm_is_retried_and_loses_no_user(meisa_fake):
    users = make_users(30)
    meisa_fake.inject_fault("server_error", times=25, status=503)
    meisa_fake.inject_fault("timeout", times=5)
    meisa_fake.inject_fault("malformed", times=5)

    with mock.patch("django_meisa.retry.MeisaRetryPolicy.backoff_for", return_value=0):
        backfill("--chunk-size", "6", "--retries", "40")

    assert_each_once(meisa_fake, users)


def test_persistent_5xx_counts_the_user_failed_after_the_retries(meisa_fake, tmp_path):
    make_users(1)
    meisa_fake.inject_fault("server_error", times=10, status=502)
    path = tmp_path / "failed.csv"

    with (
        mock.patch("django_meisa.retry.MeisaRetryPolicy.backoff_for", return_value=0),
        pytest.raises(CommandError, match="1 users failed"),
    ):
        backfill("--retries", "3", "--failures-csv", str(path))

    assert len(meisa_fake.requests) == 4
    assert "MeisaServerError" in path.read_text()
    assert "502" in path.read_text()
    state = UserSyncState.objects.get()
    assert state.last_result == MeisaSyncResult.FAILED_RETRYABLE
    assert state.attempts == 1


def test_ctrl_c_stops_cleanly_and_resume_finishes_without_duplicates():
    users = make_users(120)
    fake = InterruptingMeisa(after=30)
    with fake_meisa(fake=fake):
        with pytest.raises(CommandError, match="--resume") as excinfo:
            backfill("--chunk-size", "10", "--concurrency", "3")
        assert excinfo.value.returncode == 130
        run = BackfillRun.objects.get()
        assert run.status == BackfillRun.Status.INTERRUPTED
        sent_before = len(fake.upserts)
        assert 30 <= sent_before < 120
        # Every user sent so far is recorded, so none will be sent again.
        synced = UserSyncState.objects.filter(last_result=MeisaSyncResult.SYNCED).count()
        assert synced == sent_before

        output = backfill("--resume")

        assert_each_once(fake, users)
        assert f"Backfill run #{run.pk} finished" in output
        assert "Synced:                         120" in output
        assert BackfillRun.objects.get().status == BackfillRun.Status.FINISHED


def test_the_interrupted_summary_names_the_resume_command():
    make_users(50)
    with fake_meisa(fake=InterruptingMeisa(after=5)), pytest.raises(CommandError) as excinfo:
        backfill("--chunk-size", "5", "--concurrency", "2")
    run = BackfillRun.objects.get()
    assert f"python manage.py meisa_backfill --resume {run.pk}" in str(excinfo.value)


def test_a_crash_midway_then_resume_misses_nobody_and_sends_nobody_twice(meisa_fake):
    users = make_users(100)
    real_complete = checkpoint.complete_chunk
    calls = []

    def crash_on_fourth(chunk, counts, failures):
        calls.append(chunk.pk)
        if len(calls) == 4:
            raise RuntimeError("the machine went away")
        real_complete(chunk, counts, failures)

    with (
        mock.patch("django_meisa.backfill.rounds.complete_chunk", crash_on_fourth),
        pytest.raises(RuntimeError),
    ):
        backfill("--chunk-size", "10")
    assert 30 <= len(meisa_fake.upserts) < 100

    backfill("--resume")

    assert_each_once(meisa_fake, users)


def test_resume_after_a_hard_kill_redoes_the_claimed_chunk_once(meisa_fake):
    users = make_users(30)
    # A run killed without any cleanup: one chunk done, one claimed and half sent.
    backfill("--chunk-size", "10", "--ids", ",".join(str(u.pk) for u in users[:10]))
    run = BackfillRun.objects.get()
    run.options["selection"]["ids"] = None
    run.status = BackfillRun.Status.RUNNING
    run.selection_done = False
    run.save()
    chunk = checkpoint.add_chunk(run, [u.pk for u in users[10:20]])
    BackfillChunk.objects.filter(pk=chunk.pk).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )
    for user in users[10:15]:  # sent and recorded before the kill
        UserSyncState.objects.create(
            user=user, last_synced_at=timezone.now(), last_result=MeisaSyncResult.SYNCED
        )
    # The killed process still holds its chunk's sync leases for BACKFILL_LEASE_TIMEOUT.
    for user in users[15:20]:
        UserSyncState.objects.create(
            user=user,
            lease_token=f"bf{run.pk}-dead0000",
            lease_until=timezone.now() + dt.timedelta(hours=1),
        )
    started = time.monotonic()

    output = backfill("--resume", str(run.pk))

    sent = upsert_counts(meisa_fake)
    assert time.monotonic() - started < 5  # the dead run's leases were taken back at once
    assert sent == {str(u.pk): 1 for u in users[:10] + users[15:]}
    assert "Synced:                         30" in output


def test_a_held_sync_lease_is_waited_for_never_overwritten(meisa_fake):
    users = make_users(3)
    UserSyncState.objects.create(
        user=users[1], lease_token="event-sync", lease_until=timezone.now() + dt.timedelta(60)
    )
    waits = []

    def event_sync_finishes(seconds):
        # While the backfill waits, the event sync sends and releases its lease.
        waits.append(seconds)
        assert meisa_fake.upserts == []  # nobody is sent while a user's lease is held
        UserSyncState.objects.filter(user=users[1]).update(lease_token="", lease_until=None)

    with mock.patch("django_meisa.backfill.state.time.sleep", event_sync_finishes):
        backfill()

    assert len(waits) == 1
    assert_each_once(meisa_fake, users)


def test_a_lease_held_too_long_fails_the_user_without_sending(meisa_fake, settings):
    users = make_users(2)
    UserSyncState.objects.create(
        user=users[0], lease_token="stuck", lease_until=timezone.now() + dt.timedelta(60)
    )
    with (
        mock.patch("django_meisa.backfill.state.lease_seconds", return_value=0.2),
        pytest.raises(CommandError, match="1 users failed"),
    ):
        backfill()
    assert upsert_counts(meisa_fake) == {str(users[1].pk): 1}


def test_users_whose_lease_ran_out_before_sending_are_leased_and_mapped_again(meisa_fake):
    from django_meisa.backfill import state

    users = make_users(12)
    real_lease, real_handle = state.lease_chunk, meisa_fake.handle
    leases = []

    def lease_chunk(user_pks, **kwargs):
        leases.append(real_lease(user_pks, **kwargs))
        return leases[-1]

    def handle(*args):
        # After the fourth upsert the first lease runs out (a long 429 pause, say).
        response = real_handle(*args)
        if len(meisa_fake.upserts) == 4:
            leases[0].send_deadline = time.monotonic() - 1
        return response

    with (
        mock.patch("django_meisa.backfill.chunk.lease_chunk", lease_chunk),
        mock.patch.object(meisa_fake, "handle", handle),
    ):
        output = backfill("--chunk-size", "12", "--concurrency", "1")

    assert len(leases) == 2
    assert leases[1].token != leases[0].token
    assert len(leases[1].states) == 8
    assert_each_once(meisa_fake, users)
    assert "Synced:                         12" in output


def test_resume_without_an_unfinished_run_is_a_command_error(meisa_fake):
    make_users(2)
    backfill()
    with pytest.raises(CommandError, match="no unfinished backfill run"):
        backfill("--resume")


def test_sigterm_stops_like_ctrl_c():
    import signal

    users = make_users(60)

    class TerminatingMeisa(InterruptingMeisa):
        def handle(self, method, path, headers, body):
            response = super(InterruptingMeisa, self).handle(method, path, headers, body)
            with self._lock:
                self.seen += 1
                if self.seen == self.after:
                    os.kill(os.getpid(), signal.SIGTERM)
            return response

    fake = TerminatingMeisa(after=10)
    with fake_meisa(fake=fake):
        with pytest.raises(CommandError) as excinfo:
            backfill("--chunk-size", "10", "--concurrency", "2")
        assert excinfo.value.returncode == 130
        backfill("--resume")
        assert_each_once(fake, users)


def test_abandoned_chunks_are_queued_again_once(meisa_fake):
    from django_meisa.backfill.options import MeisaBackfillOptions
    from django_meisa.backfill.worker import requeue_abandoned

    users = make_users(4)
    run = checkpoint.start_run("enqueue", MeisaBackfillOptions().stored())
    dead = checkpoint.add_chunk(run, [u.pk for u in users[:2]])
    alive = checkpoint.add_chunk(run, [u.pk for u in users[2:]])
    BackfillChunk.objects.filter(pk=dead.pk).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )
    checkpoint.claim_chunk(alive.pk, 60)

    with mock.patch("django_meisa.backfill.worker.enqueue_chunk") as enqueue:
        assert requeue_abandoned(run) == 1
        assert requeue_abandoned(run) == 0
    enqueue.assert_called_once_with(run.pk, dead.pk)


def test_a_keyboard_interrupt_inside_a_sender_thread_stops_the_run_cleanly(meisa_fake):
    users = make_users(40)
    calls = []

    class Client(StubClient):
        def upsert_contact(self, payload):
            calls.append(payload["email"])
            if len(calls) == 15:
                raise KeyboardInterrupt
            return super().upsert_contact(payload)

    options = MeisaBackfillOptions(mode="inline", chunk_size=10, concurrency=2)
    result = run_backfill(options, stdout=io.StringIO(), client_factory=Client)

    assert result.interrupted
    assert result.counts.synced < 40
    done = UserSyncState.objects.filter(last_result=MeisaSyncResult.SYNCED).count()
    assert done == len(calls) - 1
    run_backfill(MeisaBackfillOptions(resume=True), stdout=io.StringIO(), client_factory=Client)
    assert sorted(calls[15:] + calls[:14]) == sorted(u.email for u in users)


def test_a_chunk_lease_is_renewed_with_its_send_deadline(meisa_fake):
    from django_meisa.backfill.state import lease_chunk

    users = make_users(3)
    lease = lease_chunk([u.pk for u in users], run_id=7)
    assert lease.token.startswith("bf7-")
    before = dict(UserSyncState.objects.values_list("user_id", "lease_until"))
    deadline = lease.send_deadline
    time.sleep(0.01)

    lease.renew()

    after = dict(UserSyncState.objects.values_list("user_id", "lease_until"))
    assert all(after[pk] > before[pk] for pk in before)
    assert lease.send_deadline > deadline
    lease.release()
    assert not UserSyncState.objects.exclude(lease_token="").exists()


def test_a_chunk_lease_waits_for_rows_another_holder_frees(meisa_fake):
    from django_meisa.backfill.state import lease_chunk

    users = make_users(3)
    lease_chunk([u.pk for u in users[:1]], run_id=1).release()  # the state rows exist
    other = timezone.now() + dt.timedelta(seconds=0.3)
    UserSyncState.objects.filter(user=users[0]).update(lease_until=other, lease_token="other")

    lease = lease_chunk([u.pk for u in users], run_id=2, wait_busy=5)

    assert lease.busy == []
    assert set(lease.states) == {u.pk for u in users}
    assert set(UserSyncState.objects.values_list("lease_token", flat=True)) == {lease.token}


def test_a_chunk_lease_leaves_rows_still_held_as_busy(meisa_fake):
    from django_meisa.backfill.state import lease_chunk

    users = make_users(3)
    lease_chunk([u.pk for u in users], run_id=1).release()
    held_until = timezone.now() + dt.timedelta(minutes=5)
    UserSyncState.objects.filter(user=users[1]).update(lease_until=held_until, lease_token="other")

    lease = lease_chunk([u.pk for u in users], run_id=2, wait_busy=0.2)

    assert lease.busy == [users[1].pk]
    assert set(lease.states) == {users[0].pk, users[2].pk}
    assert UserSyncState.objects.get(user=users[1]).lease_token == "other"


def test_the_runner_renews_leases_of_chunks_in_flight(meisa_fake):
    from django_meisa.backfill.state import ChunkLease

    users = make_users(30)
    renewed = []
    real_handle = meisa_fake.handle

    def slow_handle(*args):
        time.sleep(0.005)  # keep chunks in flight across a few pumps
        return real_handle(*args)

    with (
        mock.patch("django_meisa.backfill.rounds.RENEW_INTERVAL", 0),
        mock.patch.object(ChunkLease, "renew", lambda lease: renewed.append(lease.token)),
        mock.patch.object(meisa_fake, "handle", slow_handle),
    ):
        backfill("--chunk-size", "10", "--concurrency", "1")
    assert renewed
    assert_each_once(meisa_fake, users)
