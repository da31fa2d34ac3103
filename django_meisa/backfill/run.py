"""``run_backfill``: start or resume a run, pick its mode, and return what it did."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from django_meisa import conf
from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import MeisaBackfillContext
from django_meisa.backfill.client import MeisaBackfillClient
from django_meisa.backfill.inline import MeisaInlineRunner
from django_meisa.backfill.interrupt import meisa_graceful_stop
from django_meisa.backfill.pool import MeisaSenderPool
from django_meisa.backfill.progress import MeisaBackfillProgress
from django_meisa.backfill.ratelimit import MeisaTokenBucket
from django_meisa.backfill.report import MeisaBackfillResult
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    count_selected,
    pks_in_range,
    select_related_paths,
    selection_chunks,
    to_pk,
)
from django_meisa.backfill.sender import MeisaRetryPolicy, describe_error
from django_meisa.backfill.state import chunk_lease_seconds, release_run_leases
from django_meisa.client import MeisaClient
from django_meisa.exceptions import MeisaConfigurationError
from django_meisa.models import BackfillChunk, BackfillRun

INLINE, ENQUEUE = "inline", "enqueue"


@dataclass(frozen=True)
class MeisaBackfillOptions:
    """Everything a run needs. The command builds it from its arguments.

    ``mode`` None picks ``enqueue`` when a real Celery broker is configured, else
    ``inline``. ``resume`` continues the latest unfinished run (True) or run number
    ``resume``; the resumed run keeps its own selection, chunk size, force and dry-run.
    """

    selection: MeisaBackfillSelection = field(default_factory=MeisaBackfillSelection)
    mode: str | None = None
    chunk_size: int = 500
    concurrency: int = 4
    rate: float | None = None
    force: bool = False
    dry_run: bool = False
    resume: bool | int = False
    wait: bool = True
    policy: MeisaRetryPolicy = field(default_factory=MeisaRetryPolicy)

    def stored(self) -> dict[str, Any]:
        """The options saved on the run, for ``--resume`` and for Celery workers."""
        return {
            "selection": self.selection.as_dict(),
            "chunk_size": self.chunk_size,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "force": self.force,
            "dry_run": self.dry_run,
            "retries": self.policy.retries,
        }

    def resumed_from(self, stored: dict[str, Any]) -> MeisaBackfillOptions:
        """These options with the selection and flags of a stored run."""
        return replace(
            self,
            selection=MeisaBackfillSelection.from_dict(stored["selection"]),
            chunk_size=int(stored["chunk_size"]),
            force=bool(stored["force"]),
            dry_run=bool(stored["dry_run"]),
            rate=self.rate if self.rate is not None else stored.get("rate"),
        )


def default_mode() -> str:
    """``enqueue`` when the current Celery app has a real broker, else ``inline``.

    Eager mode, a ``memory://`` broker or no broker setting at all mean there is no
    worker to share the work with, so the command sends by itself.
    """
    from celery import current_app

    celery_conf = current_app.conf
    broker = str(celery_conf.broker_url or "")
    if celery_conf.task_always_eager or not broker or broker.startswith("memory"):
        return INLINE
    return ENQUEUE


def run_backfill(
    options: MeisaBackfillOptions,
    *,
    stdout: TextIO | None = None,
    verbosity: int = 1,
    progress_interval: float = 10.0,
    tty: bool | None = None,
    client_factory: Callable[[], MeisaClient] = MeisaBackfillClient,
) -> MeisaBackfillResult:
    """Run (or resume) a backfill and return its result; never raises on failed users.

    Called by ``meisa_backfill`` and usable from code. Raises
    ``MeisaConfigurationError`` when django-meisa is disabled or misconfigured, and
    ``LookupError`` when there is no run to resume.
    """
    if not conf.get_setting("ENABLED") and not options.dry_run:
        raise MeisaConfigurationError(
            'MEISA["ENABLED"] is False, so nothing may be sent to Meisa; set it to True '
            "to backfill (or use --dry-run)."
        )
    run, options = _open_run(options)
    stream = stdout or sys.stdout
    total, done_before = _sizes(run, options)
    progress = MeisaBackfillProgress(
        stream, total=total, done_before=done_before, verbosity=verbosity,
        interval=progress_interval, tty=tty,
    )  # fmt: skip
    ctx = _context(run, options, stream if verbosity >= 2 else None)
    started = time.monotonic()
    if run.mode == ENQUEUE:
        from django_meisa.backfill.dispatch import dispatch_and_wait

        result = dispatch_and_wait(run, options, progress)
    else:
        result = _run_inline(run, options, ctx, progress, client_factory)
    result.elapsed = time.monotonic() - started
    result.selected = total
    result.done_before = done_before
    return result


def _context(
    run: BackfillRun, options: MeisaBackfillOptions, log_stream: TextIO | None
) -> MeisaBackfillContext:
    def log(line: str) -> None:
        if log_stream is not None:
            log_stream.write(line + "\n")

    return MeisaBackfillContext(
        started_at=run.started_at, run_id=run.pk, force=options.force,
        dry_run=options.dry_run, exclude_suppressed=options.selection.exclude_suppressed,
        select_related=tuple(select_related_paths()),
        log=log if log_stream is not None else None,
    )  # fmt: skip


def _open_run(options: MeisaBackfillOptions) -> tuple[BackfillRun, MeisaBackfillOptions]:
    if options.resume is False:
        mode = options.mode or default_mode()
        return checkpoint.start_run(mode, options.stored()), options
    run_id = None if options.resume is True else int(options.resume)
    run = checkpoint.resumable_run(run_id)
    if run is None:
        raise LookupError("There is no unfinished backfill run to resume.")
    options = options.resumed_from(run.options)
    mode = options.mode or run.mode
    run.mode, run.options = mode, {**options.stored(), "concurrency": options.concurrency}
    run.save(update_fields=["mode", "options"])
    # The process that claimed the unfinished chunks is gone (crashed or stopped). Were
    # it still running, the per-user leases would keep the two from sending anyone twice.
    run.chunks.exclude(status=BackfillChunk.Status.DONE).update(claimed_until=None)
    release_run_leases(run.pk)
    checkpoint.set_status(run, BackfillRun.Status.RUNNING)
    return run, options


def _sizes(run: BackfillRun, options: MeisaBackfillOptions) -> tuple[int, int]:
    """Return (total selected users, users already done by earlier attempts)."""
    done_before = checkpoint.run_counts(run).done
    after = to_pk(run.cursor_pk) if run.cursor_pk else None
    remaining = 0 if run.selection_done else count_selected(options.selection, after=after)
    pending = run.chunks.exclude(status=BackfillChunk.Status.DONE)
    remaining += sum(pending.values_list("size", flat=True))
    return done_before + remaining, done_before


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
        yield chunk, pks_in_range(options.selection, to_pk(chunk.first_pk), to_pk(chunk.last_pk))
    if run.selection_done:
        return
    after = to_pk(run.cursor_pk) if run.cursor_pk else None
    for pks in selection_chunks(options.selection, options.chunk_size, after=after):
        yield checkpoint.add_chunk(run, pks), pks
    checkpoint.mark_selection_done(run)


def _run_inline(
    run: BackfillRun,
    options: MeisaBackfillOptions,
    ctx: MeisaBackfillContext,
    progress: MeisaBackfillProgress,
    client_factory: Callable[[], MeisaClient],
) -> MeisaBackfillResult:
    stop = threading.Event()
    pool = MeisaSenderPool(
        options.concurrency, limiter=MeisaTokenBucket(options.rate), policy=options.policy,
        client_factory=client_factory, backlog=2 * options.chunk_size + options.concurrency,
        stop=stop,
    )  # fmt: skip
    runner = MeisaInlineRunner(
        ctx, pool=pool, progress=progress, claim_seconds=chunk_lease_seconds()
    )
    with meisa_graceful_stop(stop):
        try:
            runner.run(chunk_source(run, options))
        except KeyboardInterrupt:
            stop.set()
            runner.drain()
        except BaseException:
            stop.set()
            _drain_quietly(runner)
            checkpoint.set_status(run, BackfillRun.Status.INTERRUPTED)
            raise
        finally:
            pool.close()
            progress.finish()
    result = finish_run(run, options, fatal=runner.fatal)
    result.unfinished_synced = runner.closed.synced - runner.completed.synced
    return result


def _drain_quietly(runner: MeisaInlineRunner) -> None:
    # After an unexpected error, record what can be recorded; the error itself wins.
    with contextlib.suppress(Exception):
        runner.drain()


def finish_run(
    run: BackfillRun, options: MeisaBackfillOptions, *, fatal: Any = None
) -> MeisaBackfillResult:
    """Record the run's final status and return its result (totals from the checkpoint).

    The run is finished when its selection is complete and every chunk is done;
    otherwise it is interrupted and ``--resume`` continues it.
    """
    run.refresh_from_db()
    pending = run.chunks.exclude(status=BackfillChunk.Status.DONE).count()
    interrupted = fatal is not None or pending > 0 or not run.selection_done
    if fatal is not None:
        run.error = describe_error(fatal)
        run.save(update_fields=["error"])
    status = BackfillRun.Status.INTERRUPTED if interrupted else BackfillRun.Status.FINISHED
    checkpoint.set_status(run, status)
    return MeisaBackfillResult(
        run_id=run.pk,
        counts=checkpoint.run_counts(run),
        selected=0,
        interrupted=interrupted,
        dry_run=options.dry_run,
        mode=run.mode,
        fatal_error=run.error,
        pending_chunks=pending,
    )
