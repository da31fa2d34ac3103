"""Suppression's receiver of contact sync: a non-active status from an upsert suppresses at once."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.contacts.logs import user_extra
from django_meisa.signals import contact_synced, user_deleted
from django_meisa.suppression import negative_cache
from django_meisa.suppression.deleted import suppress_deleted_user
from django_meisa.suppression.status import ACTIVE, suppress_contact_status

logger = logging.getLogger("django_meisa.suppression")


def mirror_contact_status(
    sender: Any, *, user_pk: Any, contact: dict[str, Any], **kwargs: Any
) -> None:
    """Suppress the contact's address locally when Meisa reports it as not active.

    Connected to ``contact_synced`` in ``MeisaConfig.ready``, so contact sync (the worker
    and the backfill) never imports suppression. A failure is logged and never undoes
    the sync: the next suppression refresh catches the address.
    """
    status = contact.get("status")
    if not isinstance(status, str) or status == ACTIVE:
        return
    try:
        suppress_contact_status(contact["email"], status)
    except Exception:
        logger.exception(
            "Could not mirror the Meisa status of user pk=%s locally",
            user_pk,
            extra=user_extra(user_pk, "status_mirror_failed"),
        )


def connect_receivers() -> None:
    """Connect suppression's receivers (idempotent, called by ``MeisaConfig.ready``)."""
    contact_synced.connect(mirror_contact_status, dispatch_uid="meisa-mirror-contact-status")
    user_deleted.connect(suppress_deleted_user, dispatch_uid="meisa-suppress-deleted-user")
    # A site's own ORM writes to the mirror retire every process's negative cache too.
    negative_cache.connect_receivers()
