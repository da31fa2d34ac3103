"""The body of the ``backfill_chunk`` Celery task: sync one chunk of an enqueued run."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import (
    FLUSH_INTERVAL,
    BackfillContext,
    ChunkOutcome,
    ChunkTracker,
    Every,
    prepare_chunk,
    users_to_redo,
)
from django_meisa.backfill.client import BackfillClient
from django_meisa.backfill.ratelimit import (
    CacheRateLimiter,
    RateLimiter,
    TokenBucket,
)
from django_meisa.backfill.report import MeisaBackfillCounts
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    pks_in_range,
    select_related_paths,
    to_pk,
)
from django_meisa.backfill.sender import describe_error, send_upsert
from django_meisa.backfill.state import RENEW_INTERVAL, chunk_lease_seconds
from django_meisa.client import MeisaClient
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
    limiter = shared_limiter(run)
    policy = MeisaRetryPolicy(retries=int(stored.get("retries", MeisaRetryPolicy.retries)))
    pks = pks_in_range(selection, to_pk(chunk.first_pk), to_pk(chunk.last_pk))
    counts, failures = MeisaBackfillCounts(), []
    while True:
        outcome, sent = _sync_round(chunk.pk, pks, ctx, client, limiter, policy)
        counts.add(outcome.counts)
        failures.extend(outcome.failures)
        pks = users_to_redo(outcome, sent, stopping=outcome.fatal is not None)
        if not pks:
            break
    if outcome.fatal is not None:
        _stop_run(run, describe_error(outcome.fatal))
    if not outcome.complete:
        checkpoint.release_chunk(chunk.pk)
        return INCOMPLETE
    checkpoint.complete_chunk(chunk, counts, failures)
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


def _sync_round(
    chunk_id: int,
    pks: list[Any],
    ctx: BackfillContext,
    client: MeisaClient,
    limiter: RateLimiter,
    policy: MeisaRetryPolicy,
) -> tuple[ChunkOutcome, int]:
    """One round in this process: prepare, send one by one, close; and how many were sent."""
    prepared = prepare_chunk(pks, ctx)
    tracker = ChunkTracker(prepared, ctx)
    flush, renew = Every(FLUSH_INTERVAL), Every(RENEW_INTERVAL)
    for job in prepared.jobs:
        result = send_upsert(
            client, job.payload, limiter=limiter, policy=policy, window=prepared.lease
        )
        tracker.apply(job.user_pk, result)
        if result.fatal is not None:
            break
        if flush.due():
            tracker.flush()
        if renew.due() and prepared.lease is not None:
            prepared.lease.renew()
            checkpoint.renew_claim(chunk_id, chunk_lease_seconds())
    return tracker.close(), len(prepared.jobs)


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
