"""The body of the ``backfill_chunk`` Celery task: sync one chunk of an enqueued run."""

from __future__ import annotations

import logging

from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import BackfillContext
from django_meisa.backfill.client import BackfillClient
from django_meisa.backfill.ratelimit import (
    CacheRateLimiter,
    RateLimiter,
    TokenBucket,
)
from django_meisa.backfill.rounds import ChunkRunner
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    pks_in_range,
    select_related_paths,
    to_pk,
)
from django_meisa.backfill.sending import SequentialSender
from django_meisa.backfill.state import chunk_lease_seconds
from django_meisa.client import MeisaClient
from django_meisa.contacts.state import error_text
from django_meisa.models import BackfillChunk, BackfillRun
from django_meisa.retry import MeisaRetryPolicy

logger = logging.getLogger("django_meisa.backfill")

#: What ``run_chunk`` returns: done, skipped (run stopped or chunk done), busy (claimed).
DONE, SKIPPED, BUSY, INCOMPLETE = "done", "skipped", "busy", "incomplete"


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
    stored = run.options
    selection = MeisaBackfillSelection.from_dict(stored["selection"])
    ctx = BackfillContext(
        started_at=run.started_at, run_id=run.pk, force=bool(stored["force"]),
        dry_run=bool(stored["dry_run"]),
        exclude_suppressed=selection.exclude_suppressed,
        select_related=tuple(select_related_paths()),
    )  # fmt: skip
    policy = MeisaRetryPolicy(retries=int(stored.get("retries", MeisaRetryPolicy.retries)))
    sender = SequentialSender(client, limiter=shared_limiter(run), policy=policy)
    runner = ChunkRunner(ctx, sender=sender, progress=None, claim_seconds=chunk_lease_seconds())
    runner.start(chunk, pks_in_range(selection, to_pk(chunk.first_pk), to_pk(chunk.last_pk)))
    runner.drain()
    if runner.fatal is not None:
        _stop_run(run, error_text(runner.fatal))
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
    from django_meisa import conf

    alias = conf.get_setting("BACKFILL_RATE_LIMIT_CACHE")
    rate = run.options.get("rate")
    if alias is None:
        return TokenBucket(rate)
    return CacheRateLimiter(rate, key=f"meisa:backfill:{run.pk}", cache_alias=alias)


def _stop_run(run: BackfillRun, error: str) -> None:
    logger.error("Meisa backfill run #%s stopped: %s", run.pk, error)
    BackfillRun.objects.filter(pk=run.pk).update(status=BackfillRun.Status.INTERRUPTED, error=error)
