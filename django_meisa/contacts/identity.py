"""Identity changes made visible: a contact id that changed, two users on one contact."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa.contacts.logs import user_extra
from django_meisa.contacts.state import contact_changed
from django_meisa.models import MeisaSyncResult, UserSyncState

logger = logging.getLogger("django_meisa.contacts.identity")


def note_identity(alias: str, user_pk: Any, contact_id: str, previous_contact_id: str) -> None:
    """Log a changed contact id, and other users Meisa matched to the same contact.

    Called by the worker after an accepted upsert. Costs one indexed query, and only
    when the contact id is new for this user (a first sync, or a change).
    """
    if not contact_id or contact_id == previous_contact_id:
        return
    if contact_changed(previous_contact_id, contact_id):
        logger.info(
            "Meisa returned another contact id for user pk=%s (the previous one is kept)",
            user_pk,
            extra=user_extra(user_pk, MeisaSyncResult.CONTACT_CHANGED),
        )
    others = sharing_users(alias, user_pk, contact_id)
    if others:
        logger.warning(
            "Meisa matched user pk=%s to the contact of user pk(s) %s (the same email?): "
            "their upserts overwrite one contact",
            user_pk,
            ", ".join(str(pk) for pk in others),
            extra=user_extra(user_pk, "contact_shared"),
        )


def sharing_users(alias: str, user_pk: Any, contact_id: str, limit: int = 5) -> list[Any]:
    """Other users whose stored Meisa contact id is ``contact_id`` (at most ``limit``)."""
    rows = UserSyncState.objects.using(alias).filter(contact_id=contact_id)
    return list(rows.exclude(user_id=user_pk).values_list("user_id", flat=True)[:limit])
