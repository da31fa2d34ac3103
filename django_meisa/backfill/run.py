"""``run_backfill``: start or resume a run, pick its mode, and return what it did."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from django_meisa import conf
from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import BackfillContext
from django_meisa.backfill.options import ENQUEUE, MeisaBackfillOptions, default_mode
from django_meisa.backfill.ratelimit import TokenBucket
from django_meisa.backfill.report import BackfillProgress, MeisaBackfillResult
from django_meisa.backfill.rounds import ChunkRunner, graceful_stop
from django_meisa.backfill.selection import count_selected
from django_meisa.backfill.sending import BackfillClient, SenderPool
from django_meisa.backfill.state import release_run_leases
from django_meisa.backfill.worker import dispatch_and_wait
from django_meisa.client import MeisaClient
from django_meisa.exceptions import MeisaConfigurationError
from django_meisa.models import BackfillChunk, BackfillRun


def run_backfill(
    options: MeisaBackfillOptions,
    *,
    stdout: TextIO | None = None,
    verbosity: int = 1,
    progress_interval: float = 10.0,
    tty: bool | None = None,
    client_factory: Callable[[], MeisaClient] = BackfillClient,
) -> MeisaBackfillResult:
    """Run (or resume) a backfill and return its result; never raises on failed users.

    Raises ``MeisaConfigurationError`` when django-meisa is disabled or misconfigured,
    and ``LookupError`` when there is no run to resume.
    """
    if not conf.get_setting("ENABLED") and not options.dry_run:
        raise MeisaConfigurationError(
            'MEISA["ENABLED"] is False, so nothing may be sent to Meisa; set it to True '
            "to backfill (or use --dry-run)."
        )
    run, options = _open_run(options)
    stream = stdout or sys.stdout
    total, done_before = _sizes(run, options)
    progress = BackfillProgress(
        stream, total=total, done_before=done_before, verbosity=verbosity,
        interval=progress_interval, tty=tty,
    )  # fmt: skip
    log = (lambda line: stream.write(line + "\n")) if verbosity >= 2 else None
    ctx = BackfillContext.of_run(run, options, log)
    started = time.monotonic()
    if run.mode == ENQUEUE:
        result = dispatch_and_wait(run, options, progress)
    else:
        result = _run_inline(run, options, ctx, progress, client_factory)
    result.elapsed = time.monotonic() - started
    result.selected = total
    result.done_before = done_before
    return result


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
    run.mode, run.options = mode, options.stored()
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
    after = checkpoint.cursor(run)
    remaining = 0 if run.selection_done else count_selected(options.selection, after=after)
    pending = run.chunks.exclude(status=BackfillChunk.Status.DONE)
    remaining += sum(pending.values_list("size", flat=True))
    return done_before + remaining, done_before


def _run_inline(
    run: BackfillRun,
    options: MeisaBackfillOptions,
    ctx: BackfillContext,
    progress: BackfillProgress,
    client_factory: Callable[[], MeisaClient],
) -> MeisaBackfillResult:
    stop = threading.Event()
    pool = SenderPool(
        options.concurrency, limiter=TokenBucket(options.rate), policy=options.policy,
        client_factory=client_factory, backlog=2 * options.chunk_size + options.concurrency,
        stop=stop,
    )  # fmt: skip
    runner = ChunkRunner(ctx, sender=pool, progress=progress)
    with graceful_stop(stop):
        try:
            runner.run(checkpoint.chunk_source(run, options))
        except KeyboardInterrupt:
            stop.set()
            runner.drain()
        except BaseException:
            stop.set()
            with contextlib.suppress(Exception):  # record what can be; the error itself wins
                runner.drain()
            checkpoint.set_status(run, BackfillRun.Status.INTERRUPTED)
            raise
        finally:
            pool.close()
            progress.finish()
    result = checkpoint.finish_run(run, options, fatal=runner.fatal)
    result.unfinished_synced = runner.closed.synced - runner.completed.synced
    return result
