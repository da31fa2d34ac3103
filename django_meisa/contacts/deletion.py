"""Deleted users: the ``user_deleted`` signal after commit, and the opt-in final tagged upsert.

What they need is captured on ``pre_delete``, while the user's rows are still readable.
The final upsert's ``PendingDeletion`` row is written in the delete's transaction and
published by id once it commits; the row is deleted once Meisa accepted the upsert.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from django_meisa import conf
from django_meisa.client import MeisaClient
from django_meisa.contacts.announce import send_robust
from django_meisa.contacts.logs import user_extra
from django_meisa.contacts.mapping import email_field_name, external_id
from django_meisa.contacts.state import error_text
from django_meisa.exceptions import MeisaError
from django_meisa.models import PendingDeletion, UserSyncState
from django_meisa.publish import SEND_DELETION_UPSERT, publish_task
from django_meisa.signals import user_deleted

logger = logging.getLogger("django_meisa.contacts.deletion")


@dataclass(frozen=True)
class DeletedUser:
    """What is known of a user about to be deleted (``user_deleted``'s arguments)."""

    user_pk: Any
    email: str
    contact_id: str
    external_id: str | None


def capture(user: Any) -> DeletedUser:
    """Read what the signal and the final upsert need while the user's rows still exist."""
    state = UserSyncState.objects.filter(user_id=user.pk).values_list("contact_id", flat=True)
    try:
        known_id = external_id(user)
    except MeisaError:
        known_id = None  # a broken EXTERNAL_ID_FIELD must never block a delete
    email = getattr(user, email_field_name(user), None) or ""
    return DeletedUser(user.pk, str(email), state.first() or "", known_id)


def user_being_deleted(user: Any, using: str | None = None) -> None:
    """``pre_delete`` of a user: queue the signal (and the final upsert) for the commit."""
    if not conf.get_setting("ENABLED") or user.pk is None:
        return
    deleted = capture(user)
    pending = record_pending(deleted)
    transaction.on_commit(partial(after_commit, deleted, pending), using=using, robust=True)


def record_pending(deleted: DeletedUser) -> int | None:
    """Write the final upsert's row when ``DELETED_USER_TAG`` is set; return its id."""
    tag = conf.get_setting("DELETED_USER_TAG")
    if not tag or not deleted.email.strip():
        return None
    row = PendingDeletion.objects.create(
        user_pk=str(deleted.user_pk),
        email=deleted.email,
        external_id=deleted.external_id or "",
        contact_id=deleted.contact_id,
        tag=tag,
    )
    return row.pk


def after_commit(deleted: DeletedUser, pending: int | None) -> None:
    """Send ``user_deleted``, then publish the final upsert (its row is committed)."""
    send_robust(
        user_deleted, get_user_model(), user_pk=deleted.user_pk, email=deleted.email,
        contact_id=deleted.contact_id, external_id=deleted.external_id,
    )  # fmt: skip
    if pending is not None:
        publish_deletion(pending)


def publish_deletion(pending_id: int) -> bool:
    """Publish the final upsert's task by name; False (logged) when the broker is down."""
    try:
        publish_task(
            SEND_DELETION_UPSERT, (pending_id,), retry=True, retry_policy={"max_retries": 2}
        )
    except Exception as err:
        # The text may hold the broker URL and its password: the type only.
        logger.warning(
            "Could not enqueue deletion upsert %s (%s); the sweep will", pending_id,
            type(err).__name__,
        )  # fmt: skip
        return False
    return True


def deletion_payload(row: PendingDeletion) -> dict[str, Any]:
    """The final upsert: the address, the external id, the tag, and nothing else."""
    payload: dict[str, Any] = {"email": row.email, "tag_names": [row.tag], "source": "api"}
    if row.external_id:
        payload["external_id"] = row.external_id
    return payload


def send_deletion_upsert(pending_id: int, *, client: MeisaClient | None = None) -> str:
    """Send a deleted user's final tagged upsert; return "sent", "gone" or "failed".

    The row (and the address in it) goes after success or a permanent failure; a
    retryable ``MeisaError`` is raised after counting the attempt.
    """
    row = PendingDeletion.objects.filter(pk=pending_id).first()
    if row is None:
        return "gone"  # already sent by a duplicate message or the sweep
    try:
        (client or MeisaClient()).upsert_contact(deletion_payload(row))
    except MeisaError as err:
        return deletion_failed(row, err)
    PendingDeletion.objects.filter(pk=row.pk).delete()
    logger.info("Meisa final upsert of deleted user sent", extra=user_extra(row.user_pk, "sent"))
    return "sent"


def deletion_failed(row: PendingDeletion, err: MeisaError) -> str:
    """Count a retryable failure and re-raise it; drop the row after a permanent one."""
    if err.retryable:
        PendingDeletion.objects.filter(pk=row.pk).update(
            attempts=row.attempts + 1, last_attempt_at=timezone.now(),
            last_error=error_text(err),
        )  # fmt: skip
        raise err
    PendingDeletion.objects.filter(pk=row.pk).delete()
    logger.error(
        "Meisa final upsert of deleted user pk=%s failed and is dropped: %s: %s",
        row.user_pk, type(err).__name__, err, extra=user_extra(row.user_pk, "failed_permanent"),
    )  # fmt: skip
    return "failed"


def sweep_deletions(now: dt.datetime | None = None) -> int:
    """Publish again the final upserts older than ``SWEEP_AFTER`` s; return how many (a
    duplicate is harmless: a tag added twice is added once)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=float(conf.get_setting("SWEEP_AFTER")))
    stale = PendingDeletion.objects.filter(created_at__lte=cutoff).exclude(
        last_attempt_at__gt=cutoff
    )
    size = int(conf.get_setting("SWEEP_BATCH_SIZE"))
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:size])
    return sum(publish_deletion(pending_id) for pending_id in ids)
