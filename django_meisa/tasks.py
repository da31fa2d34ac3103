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

# The work is imported inside each task: this module must import before Django's apps
# are ready, because a Celery app module imports the beat-schedule helpers below from
# its on_after_configure hook. Nothing in the package imports this module, so these
# imports make no cycle.

logger = logging.getLogger("django_meisa.tasks")


# Contact sync ------------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, ignore_result=True)
def sync_contact(self: Any, user_pk: Any, using: str | None = None) -> None:
    """Sync one user to Meisa (``contacts.worker.sync_contact_now``); the args carry the pk.

    ``using`` is sent only when the sync was requested on a database other than the
    router's write alias for ``UserSyncState`` (messages from 0.1 carry the pk alone).

    Retries connection errors, timeouts, 5xx, 429 and a held lease with backoff and
    jitter, at most ``SYNC_MAX_RETRIES`` times; then the row stays pending for the sweep.
    Permanent failures are recorded by ``sync_contact_now`` and not retried.
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
    except MeisaError as err:
        if not err.retryable:
            raise
        retry_sync(self, user_pk, retry_countdown(err, self.request.retries), err)
        return
    except (OperationalError, InterfaceError) as err:
        # A database hiccup (lost connection, lock timeout): the state row is untouched
        # or still pending, so trying again later is safe.
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
    """Schedule ``task`` again in ``countdown`` seconds, or leave the user to the sweep.

    Called by ``sync_contact``. Raises celery's ``Retry`` (that is how a retry is
    scheduled); when retries are exhausted, logs a WARNING and sends
    ``contact_sync_failed`` with ``retryable=True``.
    """
    from django_meisa.contacts import announce

    try:
        raise task.retry(countdown=countdown, max_retries=int(conf.get_setting("SYNC_MAX_RETRIES")))
    except MaxRetriesExceededError:
        logger.warning(
            "Meisa sync of user pk=%s gave up after %d retries (%s); it stays pending for "
            "the sweep",
            user_pk,
            task.request.retries,
            type(err).__name__ if err else "lease held",
            extra=user_extra(user_pk, "retries_exhausted"),
        )
        if isinstance(err, MeisaError):
            announce.failed_for_now(user_pk, err)


@shared_task(ignore_result=True)
def sweep_pending_syncs() -> int:
    """Periodic: re-enqueue contact syncs left pending (see ``sweep.sweep_pending_syncs``),
    and deleted users' final upserts not yet sent (``deletion.sweep_deletions``)."""
    from django_meisa.contacts.deletion import sweep_deletions
    from django_meisa.contacts.sweep import sweep_pending_syncs as sweep

    count = sweep()
    sweep_deletions()
    return count


def sync_beat_schedule(interval: float = 60.0) -> dict[str, dict[str, Any]]:
    """Return the beat entry for ``sweep_pending_syncs`` every ``interval`` seconds.

    Merge it into ``beat_schedule`` in your Celery app module. ``expires`` drops runs
    that queued up behind an outage (the next run covers them).
    """
    return {
        "meisa-sweep-pending-syncs": {
            "task": "django_meisa.tasks.sweep_pending_syncs",
            "schedule": interval,
            "options": {"expires": interval},
        }
    }


@shared_task(bind=True, acks_late=True, ignore_result=True)
def send_deletion_upsert(self: Any, pending_id: int) -> None:
    """Send a deleted user's final tagged upsert (``deletion.send_deletion_upsert``).

    The args carry the ``PendingDeletion`` row's id only (the address stays in the row).
    Retryable failures retry with the sync's backoff; then the sweep publishes it again.
    """
    from django_meisa.contacts.deletion import send_deletion_upsert as send_deletion

    try:
        send_deletion(pending_id)
    except MeisaConfigurationError as err:
        logger.error("Meisa deletion upsert %s skipped: %s", pending_id, err)
    except MeisaError as err:
        if not err.retryable:
            raise
        try:
            raise self.retry(
                countdown=retry_countdown(err, self.request.retries),
                max_retries=int(conf.get_setting("SYNC_MAX_RETRIES")),
            )
        except MaxRetriesExceededError:
            logger.warning("Meisa deletion upsert %s left to the sweep", pending_id)


# Suppression ----------------------------------------------------------------------------


@shared_task(ignore_result=True)
def refresh_suppressed_emails(force: bool = False) -> dict[str, Any]:
    """Periodic: mirror Meisa's do-not-email list (``suppression.refresh_suppressions``).

    Never retried: a failure is recorded and logged with the table untouched, and the
    next beat run tries again. Overlapping runs skip (the refresh holds a lease).
    Returns the counts as a dict, for logs and monitoring.
    """
    from django_meisa.suppression import refresh_suppressions

    return refresh_suppressions(force=force).as_dict()


def suppression_beat_schedule() -> dict[str, dict[str, Any]]:
    """Return the beat entry for ``refresh_suppressed_emails``, every
    ``MEISA["SUPPRESSION_REFRESH_INTERVAL"]`` seconds; merge it into ``beat_schedule``.

    Call it once Django's settings are loaded (e.g. in your Celery app module after
    ``app.config_from_object``). ``expires`` drops runs that queued up behind an outage.
    """
    interval = float(conf.get_setting("SUPPRESSION_REFRESH_INTERVAL"))
    return {
        "meisa-refresh-suppressed-emails": {
            "task": "django_meisa.tasks.refresh_suppressed_emails",
            "schedule": interval,
            "options": {"expires": interval},
        }
    }


# Backfill ----------------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, ignore_result=True)
def backfill_chunk(self: Any, run_id: int, chunk_id: int) -> str:
    """Sync one chunk of a ``meisa_backfill --enqueue`` run (``backfill.worker.run_chunk``).

    The args are ids only. Per-user retries (5xx, timeouts, 429 pauses shared through
    ``MEISA["BACKFILL_RATE_LIMIT_CACHE"]``) happen inside. When another worker holds the
    chunk (a redelivered message), retries once its claim has expired.
    """
    from django_meisa.backfill.checkpoint import claim_remaining
    from django_meisa.backfill.worker import BUSY, run_chunk

    outcome = run_chunk(run_id, chunk_id)
    if outcome == BUSY:
        raise self.retry(countdown=busy_countdown(claim_remaining(chunk_id)), max_retries=3)
    return outcome
