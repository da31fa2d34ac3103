"""Suppression's receiver of ``user_deleted``: opt-in local suppression of the address."""

from __future__ import annotations

import logging
from typing import Any

from django_meisa import conf
from django_meisa.contacts.logs import user_extra
from django_meisa.suppression.local import suppress_locally

logger = logging.getLogger("django_meisa.suppression")

#: The reason stored on the local entry (shown in the admin).
REASON = "account deleted"


def suppress_deleted_user(sender: Any, *, user_pk: Any, email: str, **kwargs: Any) -> None:
    """Add a deleted user's address to the local suppression list, with
    ``MEISA["SUPPRESS_DELETED_USERS"]``.

    Connected to ``user_deleted`` (sent after the delete committed). A failure is logged
    and never undoes the delete; the site can suppress the address by hand.
    """
    if not conf.get_setting("SUPPRESS_DELETED_USERS") or not email:
        return
    try:
        suppress_locally(email, REASON)
    except Exception:
        logger.exception(
            "Could not suppress the address of deleted user pk=%s locally",
            user_pk,
            extra=user_extra(user_pk, "suppress_failed"),
        )
