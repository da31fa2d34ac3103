"""The per-user sync protocol of ``django_meisa.sync``, done a chunk of users at a time.

Same rules as ``sync_contact_now`` (lease, then read ``version``, then map, then send,
then record under the lease), but each step is one query for the whole chunk instead
of several per user. Users whose lease another worker holds are waited for, never
overwritten: an event sync in flight always wins, and the backfill re-reads after it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from django_meisa import conf
from django_meisa.lease import lease_seconds
from django_meisa.models import MeisaSyncResult, UserSyncState

#: Fields written for each kind of outcome (the lease is released separately).
SUCCESS_FIELDS = [
    "synced_version", "failed_version", "pending_since", "signup_pending",
    "payload_fingerprint", "contact_id", "meisa_status", "last_synced_at",
    "last_attempt_at", "last_result", "attempts", "last_error", "last_error_at",
]  # fmt: skip
HANDLED_FIELDS = [
    "synced_version", "failed_version", "pending_since", "last_attempt_at",
    "last_result", "attempts", "last_error", "last_error_at",
]  # fmt: skip
FAILURE_FIELDS = ["attempts", "last_error", "last_error_at", "last_attempt_at", "last_result"]
PERMANENT_FAILURE_FIELDS = [*FAILURE_FIELDS, "failed_version"]
#: Seconds kept between the last upsert a chunk may start and its lease's expiry, so
#: the results are recorded while the lease still holds.
RECORD_MARGIN = 30.0


def _clear_pending_if(version: int) -> Case:
    # As in sync_record: pending_since is cleared only if no newer request arrived.
    return Case(When(version__lte=version, then=Value(None)), default=F("pending_since"))


@dataclass
class MeisaChunkLease:
    """The leases a chunk holds: one token for all its users' rows, and until when."""

    token: str
    states: dict[Any, UserSyncState]
    busy: list[Any]
    #: ``time.monotonic()`` after which no upsert may start under this lease.
    send_deadline: float

    def rows(self) -> Any:
        """The state rows still held by this lease."""
        return UserSyncState.objects.filter(lease_token=self.token)

    def release(self) -> None:
        """Release every row still held (a no-op for rows another worker took over)."""
        self.rows().update(lease_until=None, lease_token="")


def chunk_lease_seconds() -> float:
    """Seconds a chunk's lease lasts: ``MEISA["BACKFILL_LEASE_TIMEOUT"]``, at least a sync's."""
    return max(float(conf.get_setting("BACKFILL_LEASE_TIMEOUT")), lease_seconds())


def lease_chunk(user_pks: list[Any], *, wait_busy: float | None = None) -> MeisaChunkLease:
    """Create missing state rows and lease every free row of ``user_pks``, in three queries.

    Users whose lease another worker holds are retried until ``wait_busy`` seconds
    pass (default: one sync lease), then left in ``busy``. States are read *after*
    the lease is taken, so their ``version`` is the one this backfill handles.
    """
    UserSyncState.objects.bulk_create(
        [UserSyncState(user_id=pk) for pk in user_pks], ignore_conflicts=True
    )
    seconds = chunk_lease_seconds()
    token = uuid.uuid4().hex
    deadline = time.monotonic() + (wait_busy if wait_busy is not None else lease_seconds())
    wanted, delay = list(user_pks), 0.05
    while True:
        _take(wanted, token, seconds)
        states = {s.user_id: s for s in UserSyncState.objects.filter(user_id__in=user_pks)}
        busy = [pk for pk in user_pks if states[pk].lease_token != token]
        if not busy or time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
        wanted, delay = busy, min(delay * 2, 1.0)
    connect, read = conf.timeout()
    send_deadline = time.monotonic() + seconds - (connect + read + RECORD_MARGIN)
    held = {pk: state for pk, state in states.items() if state.lease_token == token}
    return MeisaChunkLease(token, held, busy, send_deadline)


def _take(user_pks: list[Any], token: str, seconds: float) -> None:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    UserSyncState.objects.filter(user_id__in=user_pks).filter(free).update(
        lease_until=now + dt.timedelta(seconds=seconds), lease_token=token
    )


def read_states(user_pks: Iterable[Any]) -> dict[Any, UserSyncState]:
    """Return the existing state rows of ``user_pks`` without leasing (dry runs)."""
    return {s.user_id: s for s in UserSyncState.objects.filter(user_id__in=list(user_pks))}


@dataclass
class MeisaChunkRecord:
    """State updates for a chunk's users, written in a few bulk queries by ``save``."""

    lease: MeisaChunkLease
    now: dt.datetime = field(default_factory=timezone.now)
    _groups: dict[str, list[UserSyncState]] = field(default_factory=dict)

    def success(self, state: UserSyncState, version: int, fingerprint: str, contact: Any) -> None:
        """Record an accepted upsert of ``version`` (as ``sync_record.record_success``)."""
        status = contact.get("status")
        self._set(state, "success", synced_version=version, failed_version=None,
                  pending_since=_clear_pending_if(version), signup_pending=False,
                  payload_fingerprint=fingerprint, contact_id=str(contact.get("id", ""))[:64],
                  meisa_status=status[:32] if isinstance(status, str) else "",
                  last_synced_at=self.now, last_attempt_at=self.now,
                  last_result=MeisaSyncResult.SYNCED, attempts=0, last_error="",
                  last_error_at=None)  # fmt: skip

    def handled(self, state: UserSyncState, version: int, result: str) -> None:
        """Record that ``version`` needs no request (unchanged payload, or no email)."""
        self._set(state, "handled", synced_version=version, failed_version=None,
                  pending_since=_clear_pending_if(version), last_attempt_at=self.now,
                  last_result=result, attempts=0, last_error="", last_error_at=None)  # fmt: skip

    def failure(self, state: UserSyncState, version: int, error: str, *, permanent: bool) -> None:
        """Record a failed attempt; a permanent one marks ``failed_version`` for the sweep."""
        result = MeisaSyncResult.FAILED_PERMANENT if permanent else MeisaSyncResult.FAILED_RETRYABLE
        extra = {"failed_version": version} if permanent else {}
        self._set(state, "permanent" if permanent else "failure", attempts=F("attempts") + 1,
                  last_error=error[:1000], last_error_at=self.now, last_attempt_at=self.now,
                  last_result=result, **extra)  # fmt: skip

    def flush(self) -> None:
        """Write the outcomes recorded so far: one bulk query per kind, the lease kept.

        Called often while a chunk is sending, so a crash loses as few results as
        possible (a user sent but not recorded would be sent again by ``--resume``).
        """
        fields = {
            "success": SUCCESS_FIELDS,
            "handled": HANDLED_FIELDS,
            "failure": FAILURE_FIELDS,
            "permanent": PERMANENT_FAILURE_FIELDS,
        }
        for kind, states in self._groups.items():
            self.lease.rows().bulk_update(states, fields[kind], batch_size=500)
        self._groups.clear()

    def save(self) -> None:
        """Write what is left to write, then release the chunk's lease."""
        self.flush()
        self.lease.release()

    @property
    def dirty(self) -> bool:
        """True when some outcomes are not written yet."""
        return bool(self._groups)

    def _set(self, state: UserSyncState, kind: str, **values: Any) -> None:
        for name, value in values.items():
            setattr(state, name, value)
        self._groups.setdefault(kind, []).append(state)
