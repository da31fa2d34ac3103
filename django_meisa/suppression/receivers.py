"""Suppression's receivers: a non-active status from an upsert, and a deleted user (opt-in)."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa import conf
from django_meisa.contacts.logs import user_extra
from django_meisa.signals import contact_synced, user_deleted
from django_meisa.suppression import negative_cache
from django_meisa.suppression.local import suppress_locally
from django_meisa.suppression.status import suppress_contact_status

logger = logging.getLogger("django_meisa.suppression")

#: The reason stored on a deleted user's local entry (shown in the admin).
DELETED_REASON = "account deleted"


def mirror_contact_status(
    sender: Any, *, user_pk: Any, contact: dict[str, Any], **kwargs: Any
) -> None:
    """Suppress the contact's address locally when Meisa reports it as not active.

    Connected to ``contact_synced`` in ``MeisaConfig.ready``, so contact sync (the worker
    and the backfill) never imports suppression. A failure is logged and never undoes
    the sync: the next suppression refresh catches the address.
    """
    status = contact.get("status")
    if not isinstance(status, str):
        return
    try:
        suppress_contact_status(contact["email"], status)
    except Exception:
        logger.exception(
            "Could not mirror the Meisa status of user pk=%s locally",
            user_pk,
            extra=user_extra(user_pk, "status_mirror_failed"),
        )


def suppress_deleted_user(sender: Any, *, user_pk: Any, email: str, **kwargs: Any) -> None:
    """Add a deleted user's address to the local suppression list, with
    ``MEISA["SUPPRESS_DELETED_USERS"]``.

    Connected to ``user_deleted`` (sent after the delete committed). A failure is logged
    and never undoes the delete; the site can suppress the address by hand.
    """
    if not conf.get_setting("SUPPRESS_DELETED_USERS") or not email:
        return
    try:
        suppress_locally(email, DELETED_REASON)
    except Exception:
        logger.exception(
            "Could not suppress the address of deleted user pk=%s locally",
            user_pk,
            extra=user_extra(user_pk, "suppress_failed"),
        )


def connect_receivers() -> None:
    """Connect suppression's receivers (idempotent, called by ``MeisaConfig.ready``)."""
    contact_synced.connect(mirror_contact_status, dispatch_uid="meisa-mirror-contact-status")
    user_deleted.connect(suppress_deleted_user, dispatch_uid="meisa-suppress-deleted-user")
    # A site's own ORM writes to the mirror retire every process's negative cache too.
    negative_cache.connect_receivers()
