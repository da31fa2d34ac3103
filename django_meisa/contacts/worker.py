"""Sync one user to Meisa: lease, read, map, decide, upsert, record, announce.

Callable without Celery (the task, the admin and tests use ``sync_contact_now``).
Ordering: the request path bumps ``UserSyncState.version``; under the user's lease a
worker reads version v, maps the user as committed now, sends, and records
``synced_version = v``. A change committed meanwhile bumps the version past v, so the
worker (or the change's own task) sends again: Meisa always ends with the latest
committed state. Every read goes to the state's write alias, never a replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_meisa import conf
from django_meisa.client import MeisaClient
from django_meisa.contacts import announce
from django_meisa.contacts.decide import (
    FAIL,
    NO_EMAIL,
    SEND,
    UNCHANGED,
    StateView,
    decide,
    is_up_to_date,
)
from django_meisa.contacts.eligibility import INELIGIBLE, load_user_for_sync
from django_meisa.contacts.logs import user_extra
from django_meisa.contacts.mapping import map_user
from django_meisa.contacts.requests import request_sync
from django_meisa.contacts.state import (
    ensure_rows,
    error_text,
    failure,
    forget_fingerprint,
    handled,
    read_states,
    state_alias,
    success,
    sync_lease,
    users,
    write,
)
from django_meisa.exceptions import MeisaError, MeisaMappingError
from django_meisa.leases import Lease
from django_meisa.models import MeisaSyncResult, UserSyncState

#: Rounds (each at most one upsert) one call makes when changes keep arriving while it
#: sends: at most this many upserts per call; later changes are left to their own
#: tasks (and the sweep).
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


def sync_contact_now(
    user_pk: Any,
    *,
    source: str | None = None,
    client: MeisaClient | None = None,
    force: bool = False,
    using: str | None = None,
) -> SyncOutcome:
    """Sync user ``user_pk`` to Meisa now, in this process, and return what happened.

    ``source`` overrides "signup"/"api"; ``force`` sends even when nothing changed.
    Returns "busy" when another worker holds the user's lease. Records permanent
    failures and returns them; raises a retryable ``MeisaError`` after recording it,
    so callers apply their own retry policy. Sends at most ``MAX_ROUNDS`` upserts.
    Reads and writes the state and the user on ``using`` (default: the router's write
    alias for ``UserSyncState``), never on a replica.
    Raises ``MeisaConfigurationError`` when django-meisa is misconfigured.
    """
    if not conf.get_setting("ENABLED"):
        return SyncOutcome(MeisaSyncResult.DISABLED, user_pk)
    alias = using or state_alias()
    if not users(alias).filter(pk=user_pk).exists():
        return SyncOutcome(MeisaSyncResult.SKIPPED_DELETED, user_pk)
    client = client or MeisaClient()
    ensure_rows(alias, [user_pk])
    lease = sync_lease(alias, [user_pk])
    outcome = SyncOutcome(MeisaSyncResult.UP_TO_DATE, user_pk)
    for _ in range(MAX_ROUNDS):
        if not lease.take():
            return SyncOutcome(MeisaSyncResult.BUSY, user_pk, retry_in=lease.remaining())
        try:
            outcome = sync_once(lease, alias, user_pk, client, source=source, force=force)
        finally:
            lease.release()
        # A change committed while we held the lease found it held; its task may have
        # given up, so look again now that the lease is free.
        if outcome.result in (MeisaSyncResult.FAILED_PERMANENT, MeisaSyncResult.BUSY):
            return outcome
        if not has_pending(alias, user_pk):
            return outcome
        force = False
    return outcome


def sync_once(
    lease: Lease,
    alias: str,
    user_pk: Any,
    client: MeisaClient,
    *,
    source: str | None,
    force: bool,
) -> SyncOutcome:
    """One round under ``lease``: read the version, map the user as committed now, decide."""
    state = read_states(alias, [user_pk], token=lease.token).get(user_pk)
    if state is None:
        return SyncOutcome(MeisaSyncResult.BUSY, user_pk)  # the lease was taken over
    if is_up_to_date(state, force=force):
        return SyncOutcome(MeisaSyncResult.UP_TO_DATE, user_pk, state.version)
    user, skipped = load_user(lease, alias, state)
    if skipped is not None:
        return skipped
    decision = decide(state, map_user(user), force=force, source=source)
    version = state.version
    if decision.action == NO_EMAIL:
        write(lease, handled(version, MeisaSyncResult.SKIPPED_NO_EMAIL))
        return SyncOutcome(MeisaSyncResult.SKIPPED_NO_EMAIL, user_pk, version)
    if decision.action == FAIL:
        assert decision.error is not None
        return fail_permanently(lease, user_pk, version, decision.error)
    if decision.action == UNCHANGED:
        write(lease, handled(version, MeisaSyncResult.UNCHANGED))
        return SyncOutcome(MeisaSyncResult.UNCHANGED, user_pk, version)
    assert decision.action == SEND
    payload = {**decision.payload, "source": decision.source}
    return send(
        lease, alias, client, user_pk, payload, decision.fingerprint, version,
        previous_contact_id=state.contact_id,
    )  # fmt: skip


def load_user(lease: Lease, alias: str, state: StateView) -> tuple[Any, SyncOutcome | None]:
    """Return ``(user, None)`` as committed now on ``alias``, or ``(None, outcome)``.

    A user ``SYNC_USERS_FILTER`` / ``SHOULD_SYNC_USER`` leave out is recorded as handled
    ("skipped_ineligible", nothing sent); a raising ``SHOULD_SYNC_USER`` fails permanently.
    """
    user_pk, version = state.user_id, state.version
    try:
        user, reason = load_user_for_sync(user_pk, using=alias)
    except MeisaMappingError as err:
        return None, fail_permanently(lease, user_pk, version, err)
    if reason == INELIGIBLE:
        write(lease, handled(version, MeisaSyncResult.SKIPPED_INELIGIBLE))
        return None, SyncOutcome(MeisaSyncResult.SKIPPED_INELIGIBLE, user_pk, version)
    if user is None:
        return None, SyncOutcome(MeisaSyncResult.SKIPPED_DELETED, user_pk, version)
    return user, None


def send(
    lease: Lease,
    alias: str,
    client: MeisaClient,
    user_pk: Any,
    payload: dict[str, Any],
    fingerprint: str,
    version: int,
    *,
    previous_contact_id: str = "",
) -> SyncOutcome:
    """Upsert ``payload`` and record the result. Raises retryable errors after recording.

    ``previous_contact_id`` (the stored one) lets a change of contact id be recorded.
    """
    if not lease.renew():
        # Our lease expired (a very slow mapper) and another worker took over.
        return SyncOutcome(MeisaSyncResult.BUSY, user_pk, version)
    try:
        contact = client.upsert_contact(payload)
    except MeisaError as err:
        if err.retryable:
            write(lease, failure(version, error_text(err), permanent=False))
            raise
        return fail_permanently(lease, user_pk, version, err)
    if not write(lease, success(version, fingerprint, contact, previous_contact_id)):
        repair_lost_lease(alias, user_pk)
    announce.note_identity(alias, user_pk, str(contact.get("id", ""))[:64], previous_contact_id)
    announce.synced(user_pk, contact, payload["source"], version, previous_contact_id)
    return SyncOutcome(MeisaSyncResult.SYNCED, user_pk, version, contact=contact)


def fail_permanently(lease: Lease, user_pk: Any, version: int, err: MeisaError) -> SyncOutcome:
    """Record a failure no retry can fix and announce it (log line and signal)."""
    write(lease, failure(version, error_text(err), permanent=True))
    announce.failed_for_good(user_pk, err)
    return SyncOutcome(MeisaSyncResult.FAILED_PERMANENT, user_pk, version, error=err)


def has_pending(alias: str, user_pk: Any) -> bool:
    """True when the user's state row has a version not yet handled nor failed."""
    return UserSyncState.objects.using(alias).pending().filter(user_id=user_pk).exists()


def repair_lost_lease(alias: str, user_pk: Any) -> None:
    """After sending without the lease, mark the user pending again and enqueue it.

    Our lease expired mid-request and another worker may have sent a newer state that
    ours then overwrote; one more sync, with the fingerprint forgotten so that it is
    really sent, puts the latest committed state back.
    """
    announce.logger.warning(
        "Meisa sync of user pk=%s outlived its lease; syncing again",
        user_pk,
        extra=user_extra(user_pk, "lease_lost"),
    )
    forget_fingerprint(alias, user_pk)
    request_sync(user_pk, using=alias)
