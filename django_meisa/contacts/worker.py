"""Sync one user to Meisa: lease, load, map, skip if unchanged, upsert, record, signal.

Callable without Celery (the task, the backfill, the admin and tests all use
``sync_contact_now``). Ordering: the request path bumps ``UserSyncState.version``;
under the per-user lease a worker reads version v, maps the user as committed now,
sends, and records ``synced_version = v``. A change committed meanwhile bumps the
version past v, so the worker (or the change's own task) sends again: Meisa always
ends with the latest committed state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from django_meisa import conf
from django_meisa.client import MeisaClient
from django_meisa.contacts.mapping import build_contact_payload
from django_meisa.contacts.state import (
    error_text,
    record_failure,
    record_handled,
    record_success,
    repair_lost_lease,
)
from django_meisa.exceptions import MeisaError, MeisaMappingError, MeisaNoEmailError
from django_meisa.leases import MeisaSyncLease, acquire_lease, ensure_state_row, lease_remaining
from django_meisa.models import MeisaSyncResult, UserSyncState
from django_meisa.signals import contact_sync_failed, contact_synced

logger = logging.getLogger("django_meisa.contacts.worker")

#: Rounds one call makes when changes keep arriving while it sends; later changes are
#: left to their own tasks (and the sweep).
MAX_ROUNDS = 3


@dataclass(frozen=True)
class SyncOutcome:
    """What ``sync_contact_now`` did for one user.

    ``result`` is a ``MeisaSyncResult`` (a str: "synced", "unchanged", "up_to_date",
    "skipped_no_email", "skipped_deleted", "failed_permanent", "busy", "disabled").
    ``retry_in`` is set for "busy": seconds until the holder's lease expires.
    """

    result: str
    user_pk: Any
    version: int | None = None
    contact: dict[str, Any] | None = None
    error: MeisaError | None = None
    retry_in: float | None = None

    @property
    def sent(self) -> bool:
        """True when an upsert reached Meisa."""
        return self.result == MeisaSyncResult.SYNCED


def payload_fingerprint(payload: Mapping[str, Any]) -> str:
    """Return a SHA-256 hex digest of ``payload`` without ``source``, key order stable.

    Two payloads that Meisa would store identically have the same fingerprint, so an
    unchanged user costs no request whatever source it would have been sent with.
    """
    body = {key: value for key, value in payload.items() if key != "source"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def sync_contact_now(
    user_pk: Any,
    *,
    source: str | None = None,
    client: MeisaClient | None = None,
    force: bool = False,
) -> SyncOutcome:
    """Sync user ``user_pk`` to Meisa now, in this process, and return what happened.

    ``source`` overrides "signup"/"api" (the backfill passes "initial_sync"); ``force``
    sends even when nothing changed. Returns "busy" when another worker holds the user's
    lease. Records permanent failures and returns them; raises a retryable
    ``MeisaError`` after recording it, so callers apply their own retry policy.
    Raises ``MeisaConfigurationError`` when django-meisa is misconfigured.
    """
    if not conf.get_setting("ENABLED"):
        return SyncOutcome(MeisaSyncResult.DISABLED, user_pk)
    if not get_user_model()._default_manager.filter(pk=user_pk).exists():
        return SyncOutcome(MeisaSyncResult.SKIPPED_DELETED, user_pk)
    client = client or MeisaClient()
    ensure_state_row(user_pk)
    outcome = SyncOutcome(MeisaSyncResult.UP_TO_DATE, user_pk)
    for _ in range(MAX_ROUNDS):
        lease = acquire_lease(user_pk)
        if lease is None:
            return SyncOutcome(MeisaSyncResult.BUSY, user_pk, retry_in=lease_remaining(user_pk))
        try:
            outcome = sync_rounds(lease, client, source=source, force=force)
        finally:
            lease.release()
        # A change committed just before the release found the lease held; its task may
        # have given up, so look once more now that the lease is free.
        if outcome.result == MeisaSyncResult.FAILED_PERMANENT or not has_pending(user_pk):
            return outcome
        force = False
    return outcome


def sync_rounds(
    lease: MeisaSyncLease, client: MeisaClient, *, source: str | None, force: bool
) -> SyncOutcome:
    """Sync under ``lease`` until the handled version stops moving (bounded).

    Called by ``sync_contact_now`` with the lease held. Returns the last round's
    outcome; raises a retryable ``MeisaError`` from the upsert.
    """
    outcome = sync_once(lease, client, source=source, force=force)
    for _ in range(MAX_ROUNDS - 1):
        if outcome.result != MeisaSyncResult.SYNCED or not has_pending(lease.user_pk):
            break
        outcome = sync_once(lease, client, source=source, force=False)
    return outcome


def sync_once(
    lease: MeisaSyncLease, client: MeisaClient, *, source: str | None, force: bool
) -> SyncOutcome:
    """One round: read the version, map the user as committed now, send if changed."""
    state = UserSyncState.objects.get(user_id=lease.user_pk)
    version = state.version
    if not force and state.synced_version >= version and state.last_synced_at is not None:
        return SyncOutcome(MeisaSyncResult.UP_TO_DATE, lease.user_pk, version)
    user = get_user_model()._default_manager.filter(pk=lease.user_pk).first()
    if user is None:
        return SyncOutcome(MeisaSyncResult.SKIPPED_DELETED, lease.user_pk, version)
    try:
        payload = build_contact_payload(user)
    except MeisaNoEmailError:
        record_handled(lease, version, MeisaSyncResult.SKIPPED_NO_EMAIL)
        return SyncOutcome(MeisaSyncResult.SKIPPED_NO_EMAIL, lease.user_pk, version)
    except MeisaMappingError as err:
        return fail_permanently(lease, version, err)
    fingerprint = payload_fingerprint(payload)
    # A login upserts even when nothing mapped changed (Meisa: "upsert on login").
    if not (force or state.login_pending) and fingerprint == state.payload_fingerprint:
        record_handled(lease, version, MeisaSyncResult.UNCHANGED)
        return SyncOutcome(MeisaSyncResult.UNCHANGED, lease.user_pk, version)
    sent_source = source or ("signup" if state.signup_pending else "api")
    return send(lease, client, payload, fingerprint, version, sent_source)


def send(
    lease: MeisaSyncLease,
    client: MeisaClient,
    payload: dict[str, Any],
    fingerprint: str,
    version: int,
    source: str,
) -> SyncOutcome:
    """Upsert ``payload`` and record the result. Raises retryable errors after recording."""
    if not lease.renew():
        # Our lease expired (a very slow mapper) and another worker took over.
        return SyncOutcome(MeisaSyncResult.BUSY, lease.user_pk, version)
    try:
        contact = client.upsert_contact({**payload, "source": source})
    except MeisaError as err:
        if err.retryable:
            record_failure(lease, version, err, permanent=False)
            raise
        return fail_permanently(lease, version, err)
    if not record_success(lease, version, fingerprint, contact):
        repair_lost_lease(lease.user_pk)
    send_robust(contact_synced, user_pk=lease.user_pk, contact=contact, source=source,
                version=version)  # fmt: skip
    return SyncOutcome(MeisaSyncResult.SYNCED, lease.user_pk, version, contact=contact)


def fail_permanently(lease: MeisaSyncLease, version: int, err: MeisaError) -> SyncOutcome:
    """Record a failure no retry can fix, log it once, and send ``contact_sync_failed``."""
    record_failure(lease, version, err, permanent=True)
    logger.error(
        "Meisa sync of user pk=%s failed and will not be retried until the user changes: %s",
        lease.user_pk,
        error_text(err),
    )
    send_robust(contact_sync_failed, user_pk=lease.user_pk, error=err, retryable=False)
    return SyncOutcome(MeisaSyncResult.FAILED_PERMANENT, lease.user_pk, version, error=err)


def has_pending(user_pk: Any) -> bool:
    """True when the user's state row has a version not yet handled nor failed."""
    state = UserSyncState.objects.filter(user_id=user_pk).first()
    return state is not None and state.is_pending


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
