"""A per-user sync lease on the UserSyncState row: one worker syncs a user at a time.

The lease is a compare-and-set ``UPDATE`` that works on every database and across
hosts, and holds no transaction open while the worker talks to Meisa. Its timeout is
longer than one HTTP exchange, so a killed worker's lease simply expires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from django_meisa import conf
from django_meisa.models import UserSyncState

#: Seconds added to the HTTP timeouts for the mapper, the database and clock skew.
LEASE_MARGIN = 30.0


def lease_seconds() -> float:
    """Return ``MEISA["SYNC_LEASE_TIMEOUT"]``, or connect + read timeout + a margin."""
    value = conf.get_setting("SYNC_LEASE_TIMEOUT")
    if value:
        return float(value)
    connect, read = conf.timeout()
    return connect + read + LEASE_MARGIN


@dataclass
class MeisaSyncLease:
    """A held lease: writes made under it are guarded by ``token``."""

    user_pk: Any
    token: str

    def rows(self) -> Any:
        """Return the state row as a queryset, only while this lease still holds it."""
        return UserSyncState.objects.filter(user_id=self.user_pk, lease_token=self.token)

    def renew(self) -> bool:
        """Extend the lease before a slow step; False when it expired and was taken."""
        until = timezone.now() + dt.timedelta(seconds=lease_seconds())
        return bool(self.rows().update(lease_until=until))

    def release(self) -> None:
        """Give the lease up (a no-op when another worker has taken it since)."""
        self.rows().update(lease_until=None, lease_token="")


def ensure_state_row(user_pk: Any) -> None:
    """Create the user's state row if missing. The caller checked that the user exists."""
    UserSyncState.objects.get_or_create(user_id=user_pk)


def acquire_lease(user_pk: Any) -> MeisaSyncLease | None:
    """Take the user's lease, or return None while another worker holds it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        UserSyncState.objects.filter(user_id=user_pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + dt.timedelta(seconds=lease_seconds()), lease_token=token)
    )
    return MeisaSyncLease(user_pk, token) if taken else None


def lease_remaining(user_pk: Any) -> float:
    """Return the seconds until the current holder's lease expires (0 when free)."""
    until = (
        UserSyncState.objects.filter(user_id=user_pk).values_list("lease_until", flat=True).first()
    )
    if until is None:
        return 0.0
    return max(0.0, (until - timezone.now()).total_seconds())
