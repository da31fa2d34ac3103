"""Celery tasks: thin wrappers that pass primary keys to the plain functions doing the work."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from django.db import InterfaceError, OperationalError

from django_meisa import conf
from django_meisa.contacts.logs import user_extra
from django_meisa.exceptions import MeisaConfigurationError, MeisaError
from django_meisa.retry import busy_countdown, retry_countdown

# The work is imported inside each task: a Celery app module imports the beat-schedule
# helpers below before Django's apps are ready. Nothing in the package imports this one.

logger = logging.getLogger("django_meisa.tasks")


# Contact sync ------------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, ignore_result=True)
def sync_contact(self: Any, user_pk: Any, using: str | None = None) -> None:
    """Sync one user to Meisa (``contacts.worker.sync_contact_now``); the args carry the pk.

    ``using`` comes only with a sync requested off the router's write alias (0.1's
    messages carry the pk alone). Retryable failures and a held lease are retried at
    most ``SYNC_MAX_RETRIES`` times; then the row stays pending for the sweep.
    """
    from django_meisa.contacts.worker import sync_contact_now

    try:
        outcome = sync_contact_now(user_pk, using=using)
    except MeisaConfigurationError as err:
        # Every user fails the same way until the settings are fixed; the sweep resumes.
        logger.error(
            "Meisa sync of user pk=%s skipped: %s", user_pk, err,
            extra=user_extra(user_pk, "misconfigured"),
        )  # fmt: skip
        return
    except (MeisaError, OperationalError, InterfaceError) as err:
        # A database hiccup (lost connection, lock timeout) leaves the row pending: retry.
        if isinstance(err, MeisaError) and not err.retryable:
            raise
        retry_sync(self, user_pk, retry_countdown(err, self.request.retries), err)
        return
    if outcome.result == "busy":
        retry_sync(self, user_pk, busy_countdown(outcome.retry_in), None)
        return
    logger.info(
        "Meisa sync of user pk=%s: %s", user_pk, outcome.result,
        extra=user_extra(user_pk, outcome.result, outcome.version),
    )  # fmt: skip


def retry_sync(task: Any, user_pk: Any, countdown: float, err: Exception | None) -> None:
    """Retry ``task`` in ``countdown`` s, or, with retries used up, leave the user to the sweep
    (a WARNING, and ``contact_sync_failed`` with ``retryable=True``)."""
    from django_meisa.contacts import announce

    if retry_later(task, countdown):
        return
    logger.warning(
        "Meisa sync of user pk=%s gave up after %d retries (%s); it stays pending for the sweep",
        user_pk, task.request.retries, type(err).__name__ if err else "lease held",
        extra=user_extra(user_pk, "retries_exhausted"),
    )  # fmt: skip
    if isinstance(err, MeisaError):
        announce.failed_for_now(user_pk, err)


def retry_later(task: Any, countdown: float) -> bool:
    """Raise celery's ``Retry`` for ``task`` in ``countdown`` s; False once
    ``SYNC_MAX_RETRIES`` are used up."""
    try:
        raise task.retry(countdown=countdown, max_retries=int(conf.get_setting("SYNC_MAX_RETRIES")))
    except MaxRetriesExceededError:
        return False


@shared_task(ignore_result=True)
def sweep_pending_syncs() -> int:
    """Periodic: re-enqueue pending contact syncs and unsent deletion upserts."""
    from django_meisa.contacts.deletion import sweep_deletions
    from django_meisa.contacts.sweep import sweep_pending_syncs as sweep

    count = sweep()
    sweep_deletions()
    return count


def sync_beat_schedule(interval: float = 60.0) -> dict[str, dict[str, Any]]:
    """Return the beat entry for ``sweep_pending_syncs`` every ``interval`` seconds;
    merge it into ``beat_schedule`` in your Celery app module."""
    return beat_entry("meisa-sweep-pending-syncs", "sweep_pending_syncs", interval)


def beat_entry(key: str, task: str, interval: float) -> dict[str, dict[str, Any]]:
    """One beat entry; ``expires`` drops runs queued up behind an outage (the next covers them)."""
    options = {"expires": interval}
    return {key: {"task": f"django_meisa.tasks.{task}", "schedule": interval, "options": options}}


@shared_task(bind=True, acks_late=True, ignore_result=True)
def send_deletion_upsert(self: Any, pending_id: int) -> None:
    """Send a deleted user's final tagged upsert (``deletion.send_deletion_upsert``).

    The args carry the ``PendingDeletion`` id only (the address stays in the row).
    """
    from django_meisa.contacts.deletion import send_deletion_upsert as send_deletion

    try:
        send_deletion(pending_id)
    except MeisaConfigurationError as err:
        logger.error("Meisa deletion upsert %s skipped: %s", pending_id, err)
    except MeisaError as err:
        if not err.retryable:
            raise
        if not retry_later(self, retry_countdown(err, self.request.retries)):
            logger.warning("Meisa deletion upsert %s left to the sweep", pending_id)


# Suppression ----------------------------------------------------------------------------


@shared_task(ignore_result=True)
def refresh_suppressed_emails(force: bool = False) -> dict[str, Any]:
    """Periodic: mirror Meisa's do-not-email list (``suppression.refresh_suppressions``).

    Never retried (the next beat run is the retry); returns the counts as a dict.
    """
    from django_meisa.suppression import refresh_suppressions

    return refresh_suppressions(force=force).as_dict()


def suppression_beat_schedule() -> dict[str, dict[str, Any]]:
    """Return the beat entry for ``refresh_suppressed_emails`` every
    ``SUPPRESSION_REFRESH_INTERVAL`` s; call it once Django's settings are loaded."""
    interval = float(conf.get_setting("SUPPRESSION_REFRESH_INTERVAL"))
    return beat_entry("meisa-refresh-suppressed-emails", "refresh_suppressed_emails", interval)


# Backfill ----------------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, ignore_result=True)
def backfill_chunk(self: Any, run_id: int, chunk_id: int) -> str:
    """Sync one chunk of a ``meisa_backfill --enqueue`` run (``backfill.worker.run_chunk``).

    Per-user retries happen inside; a chunk another worker holds is retried once its
    claim has expired.
    """
    from django_meisa.backfill.checkpoint import claim_remaining
    from django_meisa.backfill.worker import BUSY, run_chunk

    outcome = run_chunk(run_id, chunk_id)
    if outcome == BUSY:
        raise self.retry(countdown=busy_countdown(claim_remaining(chunk_id)), max_retries=3)
    return outcome
