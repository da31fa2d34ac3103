"""Counters for dashboards and metrics: pending, failed, synced, refresh and backfill state.

``meisa_stats()`` reads them from the tables in a handful of indexed queries; the
admin summary, the health checks and a site's metrics exporter all use it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Count, F, Min
from django.utils import timezone

from django_meisa.models import (
    BackfillRun,
    MeisaSyncResult,
    PendingDeletion,
    SuppressedEmail,
    SuppressionRefreshState,
    UserSyncState,
)

#: The error type Meisa's 401 and 403 answers are recorded as.
AUTH_ERROR = "MeisaAuthError"


@dataclass(frozen=True)
class MeisaStats:
    """A snapshot of django-meisa's state. Field names are stable: export them as metrics.

    ``failed_by_reason`` maps an error type ("MeisaRequestError", "MeisaMappingError")
    to the number of users whose latest change failed permanently with it.
    ``auth_failed_at`` is the latest 401/403 from Meisa not followed by any success,
    or None.
    """

    at: dt.datetime
    pending: int
    oldest_pending_since: dt.datetime | None
    failed: int
    failed_by_reason: dict[str, int]
    synced: int
    contact_changed: int
    shared_contacts: int
    pending_deletions: int
    refresh_last_success_at: dt.datetime | None
    refresh_last_attempt_at: dt.datetime | None
    refresh_last_error: str
    mirror_size: int
    #: The latest applied refresh: {"added", "confirmed", "removed", "withheld"} counts.
    refresh_counts: dict[str, int] = field(default_factory=dict)
    last_backfill: dict[str, Any] | None = None
    auth_failed_at: dt.datetime | None = None

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest pending sync has waited, or None when nothing is pending."""
        return _age(self.at, self.oldest_pending_since)

    @property
    def refresh_age(self) -> float | None:
        """Seconds since the last successful suppression refresh, or None (never)."""
        return _age(self.at, self.refresh_last_success_at)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (datetimes as ISO strings), ages included."""
        data = asdict(self)
        data.update(oldest_pending_age=self.oldest_pending_age, refresh_age=self.refresh_age)
        return {key: _jsonable(value) for key, value in data.items()}


def meisa_stats(*, now: dt.datetime | None = None) -> MeisaStats:
    """Return the current ``MeisaStats``. Read-only; never calls Meisa."""
    pending = pending_summary()
    state = refresh_state()
    reasons = failure_reasons()
    run = BackfillRun.objects.order_by("-pk").first()
    backfill_fields = ("pk", "status", "mode", "started_at", "finished_at", "error")
    counts: dict[str, int] = {}  # what the latest applied refresh did
    if state is not None:
        counts = {
            "added": state.last_added,
            "confirmed": state.last_confirmed_count,
            "removed": state.last_removed,
            "withheld": state.withheld,
        }
    return MeisaStats(
        at=now or timezone.now(),
        pending=pending["count"],
        oldest_pending_since=pending["oldest"],
        failed=sum(reasons.values()),
        failed_by_reason=reasons,
        synced=UserSyncState.objects.filter(last_synced_at__isnull=False).count(),
        contact_changed=UserSyncState.objects.filter(
            last_result=MeisaSyncResult.CONTACT_CHANGED
        ).count(),
        shared_contacts=shared_contact_rows().count(),
        pending_deletions=PendingDeletion.objects.count(),
        refresh_last_success_at=state.last_success_at if state else None,
        refresh_last_attempt_at=state.last_attempt_at if state else None,
        refresh_last_error=state.last_error if state else "",
        mirror_size=SuppressedEmail.objects.count(),
        refresh_counts=counts,
        last_backfill=run and {name: getattr(run, name) for name in backfill_fields},
        auth_failed_at=auth_failed_at(state),
    )


def pending_summary() -> dict[str, Any]:
    """``{"count": pending syncs, "oldest": the oldest one's pending_since or None}``."""
    # pending_since is indexed and narrows the scan.
    pending = UserSyncState.objects.pending().filter(pending_since__isnull=False)
    return pending.aggregate(count=Count("pk"), oldest=Min("pending_since"))


def refresh_state() -> SuppressionRefreshState | None:
    """The suppression refresh state row, or None before the first refresh."""
    return SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK).first()


def failure_reasons() -> dict[str, int]:
    """Users whose latest change failed permanently, counted by error type (the text
    before the first colon)."""
    failed = UserSyncState.objects.filter(
        last_result=MeisaSyncResult.FAILED_PERMANENT, failed_version=F("version")
    )
    reasons: Counter[str] = Counter()
    for error, count in failed.values_list("last_error").annotate(n=Count("pk")):
        reasons[error.split(":", 1)[0] or "unknown"] += count
    return dict(reasons.most_common())


def shared_contact_rows() -> Any:
    """Users whose Meisa contact id another user also has: two users, one contact."""
    shared = (
        UserSyncState.objects.exclude(contact_id="")
        .values("contact_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("contact_id")
    )
    return UserSyncState.objects.filter(contact_id__in=shared)


def auth_failed_at(refresh: SuppressionRefreshState | None) -> dt.datetime | None:
    """The latest 401/403 answer recorded by a sync or a refresh, unless a later one succeeded.

    Judged from recorded outcomes only: never an extra request to Meisa.
    """
    syncs = UserSyncState.objects.filter(
        last_result__in=[MeisaSyncResult.FAILED_PERMANENT, MeisaSyncResult.FAILED_RETRYABLE],
        last_error__startswith=AUTH_ERROR,
    )
    failures = [syncs.order_by("-last_error_at").values_list("last_error_at", flat=True).first()]
    if refresh is not None and refresh.last_error.startswith(AUTH_ERROR):
        failures.append(refresh.last_error_at)
    latest = max((at for at in failures if at is not None), default=None)
    if latest is None:
        return None
    if refresh is not None and refresh.last_success_at and refresh.last_success_at > latest:
        return None  # a refresh succeeded since
    if UserSyncState.objects.filter(last_synced_at__gt=latest).exists():
        return None  # a sync succeeded since
    return latest


def _age(now: dt.datetime, since: dt.datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
