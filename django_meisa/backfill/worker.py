"""``--enqueue``: queue one ``backfill_chunk`` task per chunk, follow the run, and sync a chunk."""

from __future__ import annotations

import logging
import threading

from django.utils import timezone

from django_meisa import conf
from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import BackfillContext
from django_meisa.backfill.options import MeisaBackfillOptions
from django_meisa.backfill.ratelimit import CacheRateLimiter, RateLimiter, TokenBucket
from django_meisa.backfill.report import BackfillProgress, MeisaBackfillCounts, MeisaBackfillResult
from django_meisa.backfill.rounds import ChunkRunner, graceful_stop
from django_meisa.backfill.sending import BackfillClient, SequentialSender
from django_meisa.backfill.state import chunk_lease_seconds
from django_meisa.client import MeisaClient
from django_meisa.contacts.state import error_text
from django_meisa.models import BackfillChunk, BackfillRun
from django_meisa.publish import BACKFILL_CHUNK, publish_task
from django_meisa.retry import MeisaRetryPolicy

logger = logging.getLogger("django_meisa.backfill")

#: What ``run_chunk`` returns: done, skipped (run stopped or chunk done), busy (claimed).
DONE, SKIPPED, BUSY, INCOMPLETE = "done", "skipped", "busy", "incomplete"
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
    elif not options.wait:
        pending = run.chunks.exclude(status=BackfillChunk.Status.DONE).count()
        counts = checkpoint.run_counts(run)
        return MeisaBackfillResult(
            run.pk, counts, 0, dry_run=options.dry_run, mode=run.mode,
            pending_chunks=pending, detached=True,
        )  # fmt: skip
    return checkpoint.finish_run(run, options)


def enqueue_chunk(run_id: int, chunk_id: int) -> None:
    """Publish the ``backfill_chunk`` task for one chunk, by name (primary keys only)."""
    publish_task(BACKFILL_CHUNK, (run_id, chunk_id))


def wait_for_workers(
    run: BackfillRun, progress: BackfillProgress, before: MeisaBackfillCounts, stop: threading.Event
) -> None:
    """Show progress until every chunk is done, the run is stopped, or ``stop`` is set.

    Chunks whose worker died (their claim expired unfinished) are queued again.
    """
    while not stop.wait(POLL_INTERVAL):
        now = checkpoint.run_counts(run).as_dict()
        session = MeisaBackfillCounts(**{k: v - getattr(before, k) for k, v in now.items()})
        progress.update(session)
        status = BackfillRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if status != BackfillRun.Status.RUNNING:
            return
        if not run.chunks.exclude(status=BackfillChunk.Status.DONE).exists():
            progress.update(session, force=True)
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


def run_chunk(run_id: int, chunk_id: int, *, client: MeisaClient | None = None) -> str:
    """Sync chunk ``chunk_id`` of run ``run_id`` in this process; return what happened.

    Called by the ``backfill_chunk`` task. Returns ``skipped`` when the run was
    interrupted or the chunk is done, and ``busy`` when another worker holds the chunk's
    claim (the task retries later). A bad API key marks the whole run interrupted.
    """
    run = BackfillRun.objects.filter(pk=run_id).first()
    chunk = BackfillChunk.objects.filter(pk=chunk_id, run_id=run_id).first()
    if run is None or chunk is None or run.status != BackfillRun.Status.RUNNING:
        return SKIPPED
    if chunk.status == BackfillChunk.Status.DONE:
        return SKIPPED
    if not checkpoint.claim_chunk(chunk.pk, chunk_lease_seconds()):
        return BUSY
    try:
        return _sync_claimed(run, chunk, client or BackfillClient())
    except BaseException:
        checkpoint.release_chunk(chunk.pk)
        raise


def _sync_claimed(run: BackfillRun, chunk: BackfillChunk, client: MeisaClient) -> str:
    retries = int(run.options.get("retries", MeisaRetryPolicy.retries))
    options = MeisaBackfillOptions(policy=MeisaRetryPolicy(retries=retries))
    options = options.resumed_from(run.options)
    sender = SequentialSender(client, limiter=shared_limiter(run), policy=options.policy)
    runner = ChunkRunner(BackfillContext.of_run(run, options), sender=sender)
    runner.start(chunk, checkpoint.chunk_users(chunk, options.selection))
    runner.drain()
    if runner.fatal is not None:
        error = error_text(runner.fatal)
        logger.error("Meisa backfill run #%s stopped: %s", run.pk, error)
        status = BackfillRun.Status.INTERRUPTED
        BackfillRun.objects.filter(pk=run.pk).update(status=status, error=error)
    if runner.unfinished:
        return INCOMPLETE
    _finish_if_last(run)
    return DONE


def _finish_if_last(run: BackfillRun) -> None:
    # With --no-wait nobody follows the run: the worker finishing its last chunk closes it.
    run.refresh_from_db(
        fields=["selection_done", "status"], from_queryset=BackfillRun.objects.all()
    )
    pending = run.chunks.exclude(status=BackfillChunk.Status.DONE).exists()
    if run.selection_done and not pending and run.status == BackfillRun.Status.RUNNING:
        checkpoint.set_status(run, BackfillRun.Status.FINISHED)


def shared_limiter(run: BackfillRun) -> RateLimiter:
    """The run's rate limiter for workers: shared through the cache when ``--rate`` is set.

    ``MEISA["BACKFILL_RATE_LIMIT_CACHE"]`` names the cache alias (a cache every worker
    shares, such as Redis). Without ``--rate``, only 429 pauses are shared.
    """
    alias = conf.get_setting("BACKFILL_RATE_LIMIT_CACHE")
    rate = run.options.get("rate")
    if alias is None:
        return TokenBucket(rate)
    return CacheRateLimiter(rate, key=f"meisa:backfill:{run.pk}", cache_alias=alias)
