"""Tell the site what contact sync did: the public signals, and one log line per failure."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.contacts.logs import user_extra
from django_meisa.contacts.state import contact_changed, error_text
from django_meisa.exceptions import MeisaError
from django_meisa.models import MeisaSyncResult, UserSyncState
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
                extra=user_extra(kwargs.get("user_pk")),
            )


def synced(
    user_pk: Any,
    contact: dict[str, Any],
    source: str,
    version: int,
    previous_contact_id: str = "",
) -> None:
    """Announce an accepted upsert (``contact_synced``), after its state was written.

    ``previous_contact_id`` is passed on only when Meisa answered with another id.
    """
    changed = contact_changed(previous_contact_id, str(contact.get("id", ""))[:64])
    send_robust(
        contact_synced, user_pk=user_pk, contact=contact, source=source, version=version,
        previous_contact_id=previous_contact_id if changed else None,
    )  # fmt: skip


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
            extra=user_extra(user_pk, MeisaSyncResult.FAILED_PERMANENT),
        )
    send_robust(contact_sync_failed, user_pk=user_pk, error=err, retryable=False)


def failed_for_now(user_pk: Any, err: MeisaError) -> None:
    """Announce that retries are exhausted for now (``retryable=True``); the sweep goes on."""
    send_robust(contact_sync_failed, user_pk=user_pk, error=err, retryable=True)
