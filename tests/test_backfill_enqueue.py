"""meisa_backfill --enqueue through a REAL Celery worker (2 threads, memory broker)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest

from django_meisa.backfill import checkpoint
from django_meisa.backfill.options import default_mode
from django_meisa.backfill.worker import BUSY, SKIPPED, run_chunk
from django_meisa.models import BackfillChunk, BackfillRun, MeisaSyncResult, UserSyncState
from tests.backfill_support import assert_each_once, backfill, make_users

pytestmark = pytest.mark.usefixtures("celery_worker_threads", "transactional_db")


def test_enqueue_syncs_every_user_once_through_the_worker(meisa_fake):
    users = make_users(45)

    output = backfill("--enqueue", "--chunk-size", "10")

    assert_each_once(meisa_fake, users)
    run = BackfillRun.objects.get()
    assert run.mode == "enqueue"
    assert run.status == BackfillRun.Status.FINISHED
    assert run.chunks.count() == 5
    assert not run.chunks.exclude(status=BackfillChunk.Status.DONE).exists()
    assert "Synced:                         45" in output
    states = UserSyncState.objects.filter(last_result=MeisaSyncResult.SYNCED)
    assert states.count() == 45


def test_enqueue_survives_a_429_and_5xx_storm(meisa_fake):
    users = make_users(30)
    meisa_fake.inject_fault("rate_limit", times=20, retry_after=0)
    meisa_fake.inject_fault("server_error", times=3, status=500)

    backfill("--enqueue", "--chunk-size", "7", "--retries", "10")

    assert_each_once(meisa_fake, users)


def test_no_wait_returns_once_queued_and_the_last_worker_finishes_the_run(meisa_fake):
    from tests.sync_support import wait_until

    users = make_users(20)

    output = backfill("--enqueue", "--no-wait", "--chunk-size", "5")

    assert "queued" in output
    wait_until(lambda: BackfillRun.objects.get().status == BackfillRun.Status.FINISHED)
    assert_each_once(meisa_fake, users)


def test_a_chunk_claimed_by_another_worker_is_not_processed_twice(meisa_fake):
    users = make_users(5)
    run = checkpoint.start_run("enqueue", _stored_options())
    chunk = checkpoint.add_chunk(run, [u.pk for u in users])
    assert checkpoint.claim_chunk(chunk.pk, 60)

    assert run_chunk(run.pk, chunk.pk) == BUSY
    assert meisa_fake.requests == []


def test_an_interrupted_run_is_skipped_by_workers(meisa_fake):
    users = make_users(5)
    run = checkpoint.start_run("enqueue", _stored_options())
    chunk = checkpoint.add_chunk(run, [u.pk for u in users])
    checkpoint.set_status(run, BackfillRun.Status.INTERRUPTED)

    assert run_chunk(run.pk, chunk.pk) == SKIPPED
    assert meisa_fake.requests == []


def test_inline_is_the_default_with_the_memory_broker():
    assert default_mode() == "inline"


@pytest.mark.parametrize(
    ("broker", "eager", "mode"),
    [
        ("redis://127.0.0.1:6379/9", False, "enqueue"),
        ("amqp://guest@127.0.0.1//", False, "enqueue"),
        ("redis://127.0.0.1:6379/9", True, "inline"),
        ("memory://", False, "inline"),
        (None, False, "inline"),
    ],
)
def test_enqueue_is_the_default_with_a_real_broker(broker, eager, mode):
    app = SimpleNamespace(conf=SimpleNamespace(broker_url=broker, task_always_eager=eager))
    with mock.patch("celery.current_app", app):
        assert default_mode() == mode


def _stored_options():
    from django_meisa.backfill.options import MeisaBackfillOptions

    return MeisaBackfillOptions().stored()


def test_ctrl_c_while_queueing_stops_and_resume_queues_the_rest(meisa_fake):
    from django.core.management import CommandError

    from django_meisa.backfill import worker as dispatch

    users = make_users(30)
    real_enqueue, calls = dispatch.enqueue_chunk, []

    def enqueue_then_ctrl_c(run_id, chunk_id):
        calls.append(chunk_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_enqueue(run_id, chunk_id)

    with (
        mock.patch.object(dispatch, "enqueue_chunk", enqueue_then_ctrl_c),
        pytest.raises(CommandError, match="--resume") as excinfo,
    ):
        backfill("--enqueue", "--chunk-size", "5")
    assert excinfo.value.returncode == 130
    assert BackfillRun.objects.get().status == BackfillRun.Status.INTERRUPTED

    output = backfill("--resume", "--enqueue")

    assert "finished" in output
    assert_each_once(meisa_fake, users)
