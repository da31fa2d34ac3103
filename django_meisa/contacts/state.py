"""Write sync results to UserSyncState, guarded by the lease so a stale worker writes nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db.models import Case, F, Value, When
from django.utils import timezone

from django_meisa.exceptions import MeisaAPIError, MeisaError
from django_meisa.leases import MeisaSyncLease
from django_meisa.models import MeisaSyncResult, UserSyncState

logger = logging.getLogger("django_meisa.contacts.worker")


def error_text(err: MeisaError) -> str:
    """Return a one-line description of ``err`` safe to store, log and show.

    django-meisa's messages hold no personal data. For a rejected request the names
    (never the values) of the fields Meisa complained about are added.
    """
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, MeisaAPIError) and err.status_code in (400, 409, 422):
        fields = _error_fields(err)
        if fields:
            text += f" (fields: {', '.join(fields)})"
    return text[:1000]


def _error_fields(err: MeisaAPIError) -> list[str]:
    try:
        body = json.loads(err.response_text)
    except ValueError:
        return []
    return sorted(str(key)[:40] for key in body)[:10] if isinstance(body, dict) else []


def _clear_if_current(version: int, field: str, cleared: Any) -> Case:
    # Pending markers are cleared only when no newer request arrived while we worked.
    return Case(When(version__lte=version, then=Value(cleared)), default=F(field))


def record_success(
    lease: MeisaSyncLease, version: int, fingerprint: str, contact: dict[str, Any]
) -> bool:
    """Record an accepted upsert of ``version``. False when the lease was lost meanwhile."""
    now = timezone.now()
    status = contact.get("status")
    updated = lease.rows().update(
        synced_version=version,
        failed_version=None,
        pending_since=_clear_if_current(version, "pending_since", None),
        login_pending=_clear_if_current(version, "login_pending", False),
        signup_pending=False,
        payload_fingerprint=fingerprint,
        contact_id=str(contact.get("id", ""))[:64],
        meisa_status=status[:32] if isinstance(status, str) else "",
        last_synced_at=now,
        last_attempt_at=now,
        last_result=MeisaSyncResult.SYNCED,
        attempts=0,
        last_error="",
        last_error_at=None,
    )
    return bool(updated)


def record_handled(lease: MeisaSyncLease, version: int, result: str) -> None:
    """Record that ``version`` needs no request (unchanged payload, or no email)."""
    lease.rows().update(
        synced_version=version,
        failed_version=None,
        pending_since=_clear_if_current(version, "pending_since", None),
        login_pending=_clear_if_current(version, "login_pending", False),
        last_attempt_at=timezone.now(),
        last_result=result,
        attempts=0,
        last_error="",
        last_error_at=None,
    )


def record_failure(
    lease: MeisaSyncLease, version: int, err: MeisaError, *, permanent: bool
) -> None:
    """Record a failed attempt. A permanent one marks ``failed_version`` for the sweep."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "attempts": F("attempts") + 1,
        "last_error": error_text(err),
        "last_error_at": now,
        "last_attempt_at": now,
        "last_result": (
            MeisaSyncResult.FAILED_PERMANENT if permanent else MeisaSyncResult.FAILED_RETRYABLE
        ),
    }
    if permanent:
        fields["failed_version"] = version
    lease.rows().update(**fields)


def repair_lost_lease(user_pk: Any) -> None:
    """After sending without the lease, mark the user pending again and enqueue it.

    Our lease expired mid-request and another worker may have sent a newer state that
    ours then overwrote; one more sync, with the fingerprint forgotten so that it is
    really sent, puts the latest committed state back.
    """
    from django_meisa.contacts.requests import request_sync

    logger.warning("Meisa sync of user pk=%s outlived its lease; syncing again", user_pk)
    UserSyncState.objects.filter(user_id=user_pk).update(payload_fingerprint="")
    request_sync(user_pk)
