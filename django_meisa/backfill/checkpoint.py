"""The backfill checkpoint in the database: runs, chunks claimed and finished, failures.

A run's selection advances by chunks (contiguous primary-key ranges). A chunk's counts
and failures are written in the same transaction that marks it done, so the totals of
an interrupted or crashed run are exact, and ``--resume`` redoes only unfinished chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from django_meisa.backfill.options import MeisaBackfillOptions
from django_meisa.backfill.report import OUTCOMES, MeisaBackfillCounts, MeisaBackfillResult
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    pks_in_range,
    selection_chunks,
    to_pk,
)
from django_meisa.contacts.state import error_text
from django_meisa.leases import Lease
from django_meisa.models import BackfillChunk, BackfillFailure, BackfillRun


def start_run(mode: str, options: dict[str, Any]) -> BackfillRun:
    """Create and return a new run in the ``running`` state."""
    return BackfillRun.objects.create(mode=mode, options=options)


def resumable_run(run_id: int | None = None) -> BackfillRun | None:
    """Return run ``run_id``, or the latest run that did not finish; None if there is none."""
    if run_id is not None:
        return BackfillRun.objects.filter(pk=run_id).first()
    return BackfillRun.objects.exclude(status=BackfillRun.Status.FINISHED).order_by("-pk").first()


def set_status(run: BackfillRun, status: Any) -> None:
    """Record ``status`` on ``run`` (and the finish time when it is ``finished``)."""
    run.status = status
    run.finished_at = timezone.now() if status == BackfillRun.Status.FINISHED else None
    run.save(update_fields=["status", "finished_at"])


def add_chunk(run: BackfillRun, pks: list[Any]) -> BackfillChunk:
    """Record the next chunk of selected users and advance the run's selection cursor."""
    with transaction.atomic():
        chunk = BackfillChunk.objects.create(
            run=run, first_pk=str(pks[0]), last_pk=str(pks[-1]), size=len(pks)
        )
        run.cursor_pk = str(pks[-1])
        run.save(update_fields=["cursor_pk"])
    return chunk


def chunk_claim(chunk_id: int, seconds: float = 0.0, **rows: Any) -> Lease:
    """The claim on a chunk: the one lease, on ``BackfillChunk.claimed_until``.

    A compare-and-set, so two workers given the same chunk never both process it.
    """
    chunks = BackfillChunk.objects.filter(pk=chunk_id, **rows)
    return Lease(chunks, seconds, until_field="claimed_until", token_field=None)


def claim_chunk(chunk_id: int, seconds: float) -> bool:
    """Claim a pending chunk for ``seconds``; False when it is done or claimed by another."""
    return bool(chunk_claim(chunk_id, seconds, status=BackfillChunk.Status.PENDING).take())


def renew_claim(chunk_id: int, seconds: float) -> None:
    """Extend the claim on a chunk still being processed (the claimer renews it)."""
    chunk_claim(chunk_id, seconds, status=BackfillChunk.Status.PENDING).renew()


def release_chunk(chunk_id: int) -> None:
    """Give up the claim on an unfinished chunk, so a resume can take it at once."""
    chunk_claim(chunk_id).release()


def claim_remaining(chunk_id: int) -> float:
    """Seconds until another worker's claim on ``chunk_id`` expires (0 when free)."""
    return chunk_claim(chunk_id).remaining()


def complete_chunk(
    chunk: BackfillChunk, counts: MeisaBackfillCounts, failures: list[tuple[str, str]]
) -> None:
    """Mark ``chunk`` done with its ``counts`` and ``(user_pk, reason)`` failures, atomically."""
    # MySQL/MariaDB's ON DUPLICATE KEY names no target: the unique key is implied.
    target = (
        ["run", "user_pk"] if connection.features.supports_update_conflicts_with_target else None
    )
    with transaction.atomic():
        BackfillFailure.objects.bulk_create(
            [BackfillFailure(run_id=chunk.run_id, user_pk=pk, reason=why) for pk, why in failures],
            update_conflicts=True,
            unique_fields=target,
            update_fields=["reason"],
        )
        BackfillChunk.objects.filter(pk=chunk.pk).update(
            status=BackfillChunk.Status.DONE,
            claimed_until=None,
            finished_at=timezone.now(),
            **counts.as_dict(),
        )


def run_counts(run: BackfillRun) -> MeisaBackfillCounts:
    """Return the summed counts of the run's finished chunks."""
    done = run.chunks.filter(status=BackfillChunk.Status.DONE)
    sums = done.aggregate(**{name: Sum(name) for name in OUTCOMES})
    return MeisaBackfillCounts(**{name: sums[name] or 0 for name in OUTCOMES})


def failure_rows(run_id: int) -> Iterator[tuple[str, str]]:
    """Yield ``(user_pk, reason)`` for every failed user of run ``run_id``."""
    rows = BackfillFailure.objects.filter(run_id=run_id).order_by("pk")
    yield from rows.values_list("user_pk", "reason").iterator(chunk_size=2000)


def chunk_source(
    run: BackfillRun, options: MeisaBackfillOptions
) -> Iterator[tuple[BackfillChunk, list[Any]]]:
    """Yield the run's unfinished chunks, then new chunks from where selection stopped."""
    pending = list(
        run.chunks.exclude(status=BackfillChunk.Status.DONE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for chunk in BackfillChunk.objects.filter(pk__in=pending).order_by("pk"):
        yield chunk, chunk_users(chunk, options.selection)
    if run.selection_done:
        return
    for pks in selection_chunks(options.selection, options.chunk_size, after=cursor(run)):
        yield add_chunk(run, pks), pks
    run.selection_done = True  # every selected user is in a chunk now
    run.save(update_fields=["selection_done"])


def cursor(run: BackfillRun) -> Any:
    """The last primary key selected into a chunk of ``run`` (None before the first)."""
    return to_pk(run.cursor_pk) if run.cursor_pk else None


def chunk_users(chunk: BackfillChunk, selection: MeisaBackfillSelection) -> list[Any]:
    """The selected users of a recorded chunk (for a resume or a Celery worker)."""
    return pks_in_range(selection, to_pk(chunk.first_pk), to_pk(chunk.last_pk))


def finish_run(
    run: BackfillRun, options: MeisaBackfillOptions, *, fatal: Any = None
) -> MeisaBackfillResult:
    """Record the run's final status, finished or interrupted, and return its result."""
    run.refresh_from_db(from_queryset=BackfillRun.objects.all())  # the primary, not a replica
    pending = run.chunks.exclude(status=BackfillChunk.Status.DONE).count()
    interrupted = fatal is not None or pending > 0 or not run.selection_done
    if fatal is not None:
        run.error = error_text(fatal)
        run.save(update_fields=["error"])
    status = BackfillRun.Status.INTERRUPTED if interrupted else BackfillRun.Status.FINISHED
    set_status(run, status)
    return MeisaBackfillResult(
        run_id=run.pk,
        counts=run_counts(run),
        selected=0,
        interrupted=interrupted,
        dry_run=options.dry_run,
        mode=run.mode,
        fatal_error=run.error,
        pending_chunks=pending,
    )
