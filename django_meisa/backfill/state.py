"""A chunk's sync lease: ``sync_contact_now``'s own lease, on a few hundred rows at once.

Rows another worker holds are waited for, never overwritten: an event sync in flight
always wins, and the backfill re-reads after it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django_meisa import conf
from django_meisa.contacts.decide import StateView
from django_meisa.contacts.state import ensure_rows, read_states, state_alias, sync_lease
from django_meisa.leases import Lease, lease_seconds
from django_meisa.models import UserSyncState

#: Seconds kept between the last upsert a chunk may start and its lease's expiry, so
#: the results are recorded while the lease still holds.
RECORD_MARGIN = 10.0
#: Seconds between renewals of a sending chunk's lease (and a worker's chunk claim).
RENEW_INTERVAL = 15.0


@dataclass
class ChunkLease:
    """The lease a chunk holds on its users' rows, their states, and until when it sends."""

    lease: Lease
    states: dict[Any, StateView]
    busy: list[Any]
    #: ``time.monotonic()`` after which no upsert may start under this lease.
    send_deadline: float

    @property
    def token(self) -> str:
        """The token every row of the chunk is leased with."""
        return self.lease.token

    def renew(self) -> None:
        """Extend the lease of every row still held, and the send deadline with it.

        Renewed while the chunk sends, the lease can be short: a crashed run holds its
        users for at most one lease.
        """
        self.lease.renew()
        self.send_deadline = time.monotonic() + send_window(self.lease.seconds)

    def release(self) -> None:
        """Release every row still held (a no-op for rows another worker took over)."""
        self.lease.release()


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
) -> ChunkLease:
    """Create missing state rows and lease every free row of ``user_pks``.

    Rows another worker holds are retried for ``wait_busy`` seconds (default one sync
    lease), then left in ``busy``. States are read *after* the lease is taken, so their
    ``version`` is the one handled. The token names the run, for ``release_run_leases``.
    """
    alias = state_alias()
    ensure_rows(alias, user_pks)
    lease = sync_lease(alias, user_pks, chunk_lease_seconds())
    lease.token = (run_token_prefix(run_id) + uuid.uuid4().hex)[:32]
    deadline = time.monotonic() + (wait_busy if wait_busy is not None else lease_seconds())
    wanted, delay = lease.rows, 0.05
    while True:
        lease.take(wanted)
        states = read_states(alias, user_pks)
        busy = [pk for pk in user_pks if pk in states and states[pk].lease_token != lease.token]
        if not busy or time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
        # Only the busy rows: lease.rows.filter() would send both IN lists of the chunk.
        wanted = sync_lease(alias, busy).rows
        delay = min(delay * 2, 1.0)
    held = {pk: state for pk, state in states.items() if state.lease_token == lease.token}
    return ChunkLease(lease, held, busy, time.monotonic() + send_window(lease.seconds))


def release_run_leases(run_id: int) -> None:
    """Release every sync lease run ``run_id`` still holds (on resume: its process is gone)."""
    rows = UserSyncState.objects.using(state_alias())
    held = rows.filter(lease_token__startswith=run_token_prefix(run_id))
    Lease(held, 0, token_field=None).release()
