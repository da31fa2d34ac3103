"""The per-user sync protocol of ``django_meisa.contacts.worker``, done a chunk of users at a time.

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
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from django_meisa import conf
from django_meisa.leases import lease_seconds
from django_meisa.models import UserSyncState

#: Seconds kept between the last upsert a chunk may start and its lease's expiry, so
#: the results are recorded while the lease still holds.
RECORD_MARGIN = 10.0
#: Seconds between renewals of a sending chunk's lease (and a worker's chunk claim).
RENEW_INTERVAL = 15.0


@dataclass
class MeisaChunkLease:
    """The leases a chunk holds: one token for all its users' rows, and until when."""

    token: str
    states: dict[Any, MeisaStateSnapshot]
    busy: list[Any]
    #: ``time.monotonic()`` after which no upsert may start under this lease.
    send_deadline: float

    def rows(self) -> Any:
        """The state rows still held by this lease."""
        return UserSyncState.objects.filter(lease_token=self.token)

    def renew(self) -> None:
        """Extend the lease of every row still held, and the send deadline with it.

        Called every ``RENEW_INTERVAL`` seconds while the chunk sends, so the lease can
        be short: a crashed backfill holds its users for at most one lease.
        """
        seconds = chunk_lease_seconds()
        self.rows().update(lease_until=timezone.now() + dt.timedelta(seconds=seconds))
        self.send_deadline = time.monotonic() + send_window(seconds)

    def release(self) -> None:
        """Release every row still held (a no-op for rows another worker took over)."""
        self.rows().update(lease_until=None, lease_token="")


def send_window(lease: float) -> float:
    """Seconds after taking (or renewing) a lease of ``lease`` s that an upsert may start."""
    connect, read = conf.timeout()
    return max(1.0, lease - (connect + read + RECORD_MARGIN))


def chunk_lease_seconds() -> float:
    """Seconds a chunk's lease lasts: ``MEISA["BACKFILL_LEASE_TIMEOUT"]``, at least a sync's."""
    return max(float(conf.get_setting("BACKFILL_LEASE_TIMEOUT")), lease_seconds())


def run_token_prefix(run_id: int) -> str:
    """The prefix of every lease token taken by backfill run ``run_id``."""
    return f"bf{run_id}-"


def lease_chunk(
    user_pks: list[Any], *, run_id: int = 0, wait_busy: float | None = None
) -> MeisaChunkLease:
    """Create missing state rows and lease every free row of ``user_pks``, in three queries.

    Users whose lease another worker holds are retried until ``wait_busy`` seconds
    pass (default: one sync lease), then left in ``busy``. States are read *after*
    the lease is taken, so their ``version`` is the one this backfill handles. The
    token names run ``run_id``, so a resume can take back a crashed run's leases.
    """
    create_missing_rows(user_pks)
    seconds = chunk_lease_seconds()
    token = (run_token_prefix(run_id) + uuid.uuid4().hex)[:32]
    deadline = time.monotonic() + (wait_busy if wait_busy is not None else lease_seconds())
    wanted, delay = list(user_pks), 0.05
    while True:
        _take(wanted, token, seconds)
        states = {s.user_id: s for s in _states_of(user_pks)}
        busy = [pk for pk in user_pks if states[pk].lease_token != token]
        if not busy or time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
        wanted, delay = busy, min(delay * 2, 1.0)
    send_deadline = time.monotonic() + send_window(seconds)
    held = {pk: state for pk, state in states.items() if state.lease_token == token}
    return MeisaChunkLease(token, held, busy, send_deadline)


def create_missing_rows(user_pks: list[Any]) -> None:
    """Create the state rows the users of ``user_pks`` lack (two queries at most).

    Every other column has a database default, so on PostgreSQL and SQLite a plain
    ``INSERT (user_id) ... ON CONFLICT DO NOTHING`` per row is sent with ``executemany``
    (the ORM's ``bulk_create`` compiles each of the model's columns for every row).
    """
    existing = set(
        UserSyncState.objects.filter(user_id__in=user_pks).values_list("user_id", flat=True)
    )
    missing = [pk for pk in user_pks if pk not in existing]
    if not missing:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        UserSyncState.objects.bulk_create(
            [UserSyncState(user_id=pk) for pk in missing], ignore_conflicts=True
        )
        return
    table = connection.ops.quote_name(UserSyncState._meta.db_table)
    # Only the quoted table name is formatted in; the pks are parameters.
    sql = f"INSERT INTO {table} (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [(pk,) for pk in missing])


def release_run_leases(run_id: int) -> int:
    """Release every sync lease run ``run_id`` still holds; return how many.

    Called when a run is resumed: the process that took them is gone (crashed or
    killed), and its users would otherwise wait ``BACKFILL_LEASE_TIMEOUT`` seconds.
    """
    held = UserSyncState.objects.filter(lease_token__startswith=run_token_prefix(run_id))
    return held.update(lease_until=None, lease_token="")


def _take(user_pks: list[Any], token: str, seconds: float) -> None:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    UserSyncState.objects.filter(user_id__in=user_pks).filter(free).update(
        lease_until=now + dt.timedelta(seconds=seconds), lease_token=token
    )


def read_states(user_pks: Iterable[Any]) -> dict[Any, MeisaStateSnapshot]:
    """Return the existing state rows of ``user_pks`` without leasing (dry runs)."""
    return {s.user_id: s for s in _states_of(list(user_pks))}


class MeisaStateSnapshot(NamedTuple):
    """The columns of a user's ``UserSyncState`` the backfill reads, as of its lease."""

    user_id: Any
    version: int
    payload_fingerprint: str
    last_synced_at: dt.datetime | None
    lease_token: str


def _states_of(user_pks: list[Any]) -> list[MeisaStateSnapshot]:
    # Tuples, not model instances: building a model per row doubles the per-user cost.
    rows = UserSyncState.objects.filter(user_id__in=user_pks).values_list(
        *MeisaStateSnapshot._fields
    )
    return [MeisaStateSnapshot(*row) for row in rows]
