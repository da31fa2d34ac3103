"""The one lease: a conditional UPDATE of an ``..._until`` column, for any rows of any table.

A user's sync, a backfill chunk's users and claim, and the suppression refresh all take
it with one ``UPDATE ... WHERE until IS NULL OR until < now``: atomic across hosts, with
no transaction held open while the holder talks to Meisa; a crashed holder's lease expires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from django_meisa import conf

#: Seconds added to the HTTP timeouts for the mapper, the database and clock skew.
LEASE_MARGIN = 30.0


def lease_seconds() -> float:
    """Return a user's sync lease: ``SYNC_LEASE_TIMEOUT``, or the timeouts + a margin."""
    value = conf.get_setting("SYNC_LEASE_TIMEOUT")
    if value:
        return float(value)
    connect, read = conf.timeout()
    return connect + read + LEASE_MARGIN


def new_token() -> str:
    """Return a fresh lease token (32 hex digits)."""
    return uuid.uuid4().hex


@dataclass
class Lease:
    """A lease on ``rows`` for ``seconds``, marked with ``token``.

    ``token_field`` None leases by the ``until`` column alone (a chunk claim) and
    releases whatever holds ``rows``.
    """

    rows: QuerySet[Any]
    seconds: float
    until_field: str = "lease_until"
    token_field: str | None = "lease_token"  # noqa: S105 (a column name)
    token: str = field(default_factory=new_token)

    def take(self, rows: QuerySet[Any] | None = None) -> int:
        """Lease the free rows of ``rows`` (default: all); return how many were taken."""
        now = timezone.now()
        free = Q(**{f"{self.until_field}__isnull": True}) | Q(**{f"{self.until_field}__lt": now})
        values: dict[str, Any] = {self.until_field: now + dt.timedelta(seconds=self.seconds)}
        if self.token_field:
            values[self.token_field] = self.token
        return (self.rows if rows is None else rows).filter(free).update(**values)

    def held(self) -> QuerySet[Any]:
        """The rows this lease still holds (none once another holder took them over)."""
        if self.token_field is None:
            return self.rows
        return self.rows.filter(**{self.token_field: self.token})

    def renew(self) -> bool:
        """Extend the lease before a slow step; False when nothing is held any more."""
        until = timezone.now() + dt.timedelta(seconds=self.seconds)
        return bool(self.held().update(**{self.until_field: until}))

    def release(self) -> int:
        """Give the lease up; return how many rows (none when another holder took them)."""
        values: dict[str, Any] = {self.until_field: None}
        if self.token_field:
            values[self.token_field] = ""
        return self.held().update(**values)

    def remaining(self) -> float:
        """Seconds until the current holder's lease expires (0 when free): the busy wait."""
        until = self.rows.values_list(self.until_field, flat=True).first()
        return max(0.0, (until - timezone.now()).total_seconds()) if until else 0.0
