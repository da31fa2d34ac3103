"""``--enqueue``: hand chunks to Celery workers, then follow the run until it is done."""

from __future__ import annotations

import threading

from django.utils import timezone

from django_meisa.backfill import checkpoint
from django_meisa.backfill.interrupt import graceful_stop
from django_meisa.backfill.options import MeisaBackfillOptions
from django_meisa.backfill.progress import BackfillProgress
from django_meisa.backfill.report import MeisaBackfillCounts, MeisaBackfillResult
from django_meisa.models import BackfillChunk, BackfillRun
from django_meisa.publish import BACKFILL_CHUNK, publish_task

#: Seconds between two looks at the checkpoint while workers sync.
POLL_INTERVAL = 0.5


def dispatch_and_wait(
    run: BackfillRun, options: MeisaBackfillOptions, progress: BackfillProgress
) -> MeisaBackfillResult:
    """Queue one ``backfill_chunk`` task per chunk; with ``options.wait``, follow progress.

    Ctrl-C marks the run interrupted: workers skip the chunks they have not started,
    finish the ones they have, and ``--resume`` queues the rest again.
    """
    stop = threading.Event()
    before = checkpoint.run_counts(run)
    with graceful_stop(stop):
        try:
            for chunk, _pks in checkpoint.chunk_source(run, options):
                if stop.is_set():
                    break
                enqueue_chunk(run.pk, chunk.pk)
            if options.wait and not stop.is_set():
                wait_for_workers(run, progress, before, stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            progress.finish()
    if stop.is_set():
        checkpoint.set_status(run, BackfillRun.Status.INTERRUPTED)
    if not options.wait and not stop.is_set():
        return _detached(run, options)
    return checkpoint.finish_run(run, options, fatal=None)


def enqueue_chunk(run_id: int, chunk_id: int) -> None:
    """Publish the ``backfill_chunk`` task for one chunk, by name (primary keys only)."""
    publish_task(BACKFILL_CHUNK, (run_id, chunk_id))


def wait_for_workers(
    run: BackfillRun,
    progress: BackfillProgress,
    before: MeisaBackfillCounts,
    stop: threading.Event,
) -> None:
    """Show progress until every chunk is done, the run is stopped, or ``stop`` is set.

    Chunks whose worker died (their claim expired unfinished) are queued again.
    """
    while not stop.wait(POLL_INTERVAL):
        progress.update(_session_counts(run, before))
        status = BackfillRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if status != BackfillRun.Status.RUNNING:
            return
        pending = run.chunks.exclude(status=BackfillChunk.Status.DONE)
        if not pending.exists():
            progress.update(_session_counts(run, before), force=True)
            return
        requeue_abandoned(run)


def requeue_abandoned(run: BackfillRun) -> int:
    """Queue again the chunks whose claim expired unfinished (their worker died).

    The claim is cleared first with a compare-and-set, so each abandoned chunk is
    queued once; its old message, if redelivered, finds the chunk claimed or done.
    """
    now = timezone.now()
    stale = run.chunks.filter(status=BackfillChunk.Status.PENDING, claimed_until__lt=now)
    requeued = 0
    for chunk_id in list(stale.values_list("pk", flat=True)):
        if checkpoint.chunk_claim(chunk_id, claimed_until__lt=now).release():
            enqueue_chunk(run.pk, chunk_id)
            requeued += 1
    return requeued


def _session_counts(run: BackfillRun, before: MeisaBackfillCounts) -> MeisaBackfillCounts:
    now = checkpoint.run_counts(run)
    return MeisaBackfillCounts(**{k: v - getattr(before, k) for k, v in now.as_dict().items()})


def _detached(run: BackfillRun, options: MeisaBackfillOptions) -> MeisaBackfillResult:
    done, recorded = checkpoint.chunk_progress(run)
    return MeisaBackfillResult(
        run_id=run.pk,
        counts=checkpoint.run_counts(run),
        selected=0,
        dry_run=options.dry_run,
        mode=run.mode,
        pending_chunks=recorded - done,
        detached=True,
    )
