"""Sync one user to Meisa: lease, read, map, decide, upsert, record, announce.

Under the lease a worker reads version v, maps the user as committed now, sends and
records ``synced_version = v``; a change committed meanwhile bumps the version past v,
so it is sent again: Meisa always ends with the latest committed state.
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
    Decision,
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

#: Upserts one call sends at most while changes keep arriving; later ones get their own tasks.
MAX_ROUNDS = 3


@dataclass(frozen=True)
class SyncOutcome:
    """What ``sync_contact_now`` did for one user: ``result`` is a ``MeisaSyncResult``;
    ``retry_in``, for "busy", the seconds until the holder's lease expires."""

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
    Returns "busy" when another worker holds the lease, and permanent failures after
    recording them; raises a retryable ``MeisaError`` after recording it (callers retry)
    and ``MeisaConfigurationError``. At most ``MAX_ROUNDS`` upserts; reads and writes
    on ``using`` (default: the router's write alias for ``UserSyncState``).
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
        pending = UserSyncState.objects.using(alias).pending().filter(user_id=user_pk)
        done = outcome.result in (MeisaSyncResult.FAILED_PERMANENT, MeisaSyncResult.BUSY)
        if done or not pending.exists():
            return outcome
        force = False
    return outcome


def sync_once(
    lease: Lease, alias: str, user_pk: Any, client: MeisaClient, *, source: str | None, force: bool
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
    if decision.action == FAIL:
        assert decision.error is not None
        return fail_permanently(lease, user_pk, state.version, decision.error)
    if decision.action == SEND:
        return send(lease, alias, client, state, decision)
    result = {NO_EMAIL: MeisaSyncResult.SKIPPED_NO_EMAIL, UNCHANGED: MeisaSyncResult.UNCHANGED}
    return handle(lease, user_pk, state.version, result[decision.action])


def handle(lease: Lease, user_pk: Any, version: int, result: str) -> SyncOutcome:
    """Record ``version`` as handled without a request (no email, unchanged, ineligible)."""
    write(lease, handled(version, result))
    return SyncOutcome(result, user_pk, version)


def load_user(lease: Lease, alias: str, state: StateView) -> tuple[Any, SyncOutcome | None]:
    """Return ``(user, None)`` as committed now on ``alias``, or ``(None, outcome)``."""
    user_pk, version = state.user_id, state.version
    try:
        user, reason = load_user_for_sync(user_pk, using=alias)
    except MeisaMappingError as err:
        return None, fail_permanently(lease, user_pk, version, err)
    if reason == INELIGIBLE:
        return None, handle(lease, user_pk, version, MeisaSyncResult.SKIPPED_INELIGIBLE)
    if user is None:
        return None, SyncOutcome(MeisaSyncResult.SKIPPED_DELETED, user_pk, version)
    return user, None


def send(
    lease: Lease, alias: str, client: MeisaClient, state: StateView, decision: Decision
) -> SyncOutcome:
    """Upsert the decided payload and record the result; retryable errors are raised after."""
    user_pk, version, previous_id = state.user_id, state.version, state.contact_id
    if not lease.renew():
        # Our lease expired (a very slow mapper) and another worker took over.
        return SyncOutcome(MeisaSyncResult.BUSY, user_pk, version)
    try:
        contact = client.upsert_contact({**decision.payload, "source": decision.source})
    except MeisaError as err:
        if err.retryable:
            write(lease, failure(version, error_text(err), permanent=False))
            raise
        return fail_permanently(lease, user_pk, version, err)
    if not write(lease, success(version, decision.fingerprint, contact, previous_id)):
        repair_lost_lease(alias, user_pk)
    announce.note_identity(alias, user_pk, str(contact.get("id", ""))[:64], previous_id)
    announce.synced(user_pk, contact, decision.source, version, previous_id)
    return SyncOutcome(MeisaSyncResult.SYNCED, user_pk, version, contact=contact)


def fail_permanently(lease: Lease, user_pk: Any, version: int, err: MeisaError) -> SyncOutcome:
    """Record a failure no retry can fix and announce it (log line and signal)."""
    write(lease, failure(version, error_text(err), permanent=True))
    announce.failed_for_good(user_pk, err)
    return SyncOutcome(MeisaSyncResult.FAILED_PERMANENT, user_pk, version, error=err)


def repair_lost_lease(alias: str, user_pk: Any) -> None:
    """After sending without the lease (another worker's newer state may be overwritten),
    forget the fingerprint and request a sync again."""
    announce.logger.warning(
        "Meisa sync of user pk=%s outlived its lease; syncing again",
        user_pk,
        extra=user_extra(user_pk, "lease_lost"),
    )
    forget_fingerprint(alias, user_pk)
    request_sync(user_pk, using=alias)
