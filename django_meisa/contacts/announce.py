"""Tell the site what contact sync did: the public signals, and the log lines about a user."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.contacts.logs import user_extra
from django_meisa.contacts.state import contact_changed, error_text
from django_meisa.exceptions import MeisaError
from django_meisa.models import MeisaSyncResult, UserSyncState
from django_meisa.signals import contact_sync_failed, contact_synced

logger = logging.getLogger("django_meisa.contacts.worker")
identity_logger = logging.getLogger("django_meisa.contacts.identity")


def send_robust(signal: Any, sender: Any = UserSyncState, **kwargs: Any) -> None:
    """Send a django-meisa signal; a failing receiver is logged, never propagated."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
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
    """Announce an accepted upsert (``contact_synced``), after its state was written."""
    changed = contact_changed(previous_contact_id, str(contact.get("id", ""))[:64])
    send_robust(
        contact_synced, user_pk=user_pk, contact=contact, source=source, version=version,
        previous_contact_id=previous_contact_id if changed else None,
    )  # fmt: skip


def failed_for_good(user_pk: Any, err: MeisaError, *, log: bool = True) -> None:
    """Announce a permanent failure (4xx, mapper error, given up by the sweep): an ERROR
    line (unless ``log`` is False: the backfill reports its own) and ``contact_sync_failed``."""
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


def note_identity(alias: str, user_pk: Any, contact_id: str, previous_contact_id: str) -> None:
    """Log a changed contact id, and other users Meisa matched to the same contact.

    Called after an accepted upsert; one indexed query, only for a contact id new to the user.
    """
    if not contact_id or contact_id == previous_contact_id:
        return
    if contact_changed(previous_contact_id, contact_id):
        identity_logger.info(
            "Meisa returned another contact id for user pk=%s (the previous one is kept)",
            user_pk, extra=user_extra(user_pk, MeisaSyncResult.CONTACT_CHANGED),
        )  # fmt: skip
    rows = UserSyncState.objects.using(alias).filter(contact_id=contact_id)
    others = list(rows.exclude(user_id=user_pk).values_list("user_id", flat=True)[:5])
    if others:
        identity_logger.warning(
            "Meisa matched user pk=%s to the contact of user pk(s) %s (the same email?): "
            "their upserts overwrite one contact",
            user_pk, ", ".join(str(pk) for pk in others),
            extra=user_extra(user_pk, "contact_shared"),
        )  # fmt: skip
