"""The sweep: re-enqueue syncs left pending (broker outage, exhausted retries, lost workers)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from django_meisa import conf
from django_meisa.contacts.requests import publish_syncs
from django_meisa.models import UserSyncState

logger = logging.getLogger("django_meisa.contacts.sweep")


def pending_syncs(now: dt.datetime | None = None) -> Any:
    """Return the state rows the sweep should re-enqueue, oldest pending first.

    Pending (``version > synced_version``), not failed permanently at this version,
    pending and not swept for ``SWEEP_AFTER`` seconds, and not leased by a live worker.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=float(conf.get_setting("SWEEP_AFTER")))
    return (
        UserSyncState.objects.filter(version__gt=F("synced_version"), pending_since__lte=cutoff)
        .exclude(failed_version=F("version"))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lte=cutoff))
        .order_by("pending_since")
    )


def sweep_pending_syncs(now: dt.datetime | None = None) -> int:
    """Enqueue up to ``SWEEP_BATCH_SIZE`` pending syncs and return how many.

    Called by the periodic ``sweep_pending_syncs`` task (and usable from a shell). The
    rows are stamped ``swept_at`` so the next run skips them for ``SWEEP_AFTER`` seconds;
    duplicates with a still-retrying task are harmless (the lease serializes them).
    """
    if not conf.get_setting("ENABLED"):
        return 0
    now = now or timezone.now()
    size = int(conf.get_setting("SWEEP_BATCH_SIZE"))
    pks = list(pending_syncs(now).values_list("user_id", flat=True)[:size])
    if not pks:
        return 0
    UserSyncState.objects.filter(user_id__in=pks).update(swept_at=now)
    publish_syncs(pks)
    logger.info("Meisa sweep re-enqueued %d pending contact sync(s)", len(pks))
    return len(pks)
