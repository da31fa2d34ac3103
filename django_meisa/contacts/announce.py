"""Tell the site what contact sync did: the public signals, and one log line per failure."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.contacts.state import error_text
from django_meisa.exceptions import MeisaError
from django_meisa.models import UserSyncState
from django_meisa.signals import contact_sync_failed, contact_synced

logger = logging.getLogger("django_meisa.contacts.worker")


def send_robust(signal: Any, **kwargs: Any) -> None:
    """Send a django-meisa signal; a failing receiver is logged, never propagated."""
    for receiver, result in signal.send_robust(sender=UserSyncState, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "A receiver of a django-meisa signal (%s) raised %s",
                getattr(receiver, "__qualname__", receiver),
                type(result).__name__,
                exc_info=result,
            )


def synced(user_pk: Any, contact: dict[str, Any], source: str, version: int) -> None:
    """Announce an accepted upsert (``contact_synced``), after its state was written."""
    send_robust(contact_synced, user_pk=user_pk, contact=contact, source=source, version=version)


def failed_for_good(user_pk: Any, err: MeisaError, *, log: bool = True) -> None:
    """Announce a failure recorded as permanent: one ERROR line and ``contact_sync_failed``.

    The one path of every permanent failure: a 4xx, a mapper error (worker or
    backfill), and a version the sweep gave up on after ``SYNC_GIVE_UP_AFTER_SWEEPS``.
    ``log`` False leaves the line out (the backfill lists its failures in its report).
    """
    if log:
        logger.error(
            "Meisa sync of user pk=%s failed and will not be retried until the user changes: %s",
            user_pk,
            error_text(err),
        )
    send_robust(contact_sync_failed, user_pk=user_pk, error=err, retryable=False)


def failed_for_now(user_pk: Any, err: MeisaError) -> None:
    """Announce that retries are exhausted for now (``retryable=True``); the sweep goes on."""
    send_robust(contact_sync_failed, user_pk=user_pk, error=err, retryable=True)
