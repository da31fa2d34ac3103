"""The sweep: re-enqueue syncs left pending, and give up on versions that keep failing.

Giving up comes first, so versions that keep failing never fill the batches (oldest
first) and starve newer ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db.models import Q
from django.utils import timezone

from django_meisa import conf
from django_meisa.contacts import announce
from django_meisa.contacts.requests import publish_syncs
from django_meisa.contacts.state import failure, state_alias, sync_lease, write
from django_meisa.exceptions import MeisaRetriesExhaustedError
from django_meisa.models import MeisaSyncResult, UserSyncState

logger = logging.getLogger("django_meisa.contacts.sweep")


def _live(alias: str, now: dt.datetime, cutoff: dt.datetime) -> Any:
    """Pending rows, pending since ``cutoff``, whose lease is free."""
    return (
        UserSyncState.objects.using(alias)
        .pending()
        .filter(pending_since__lte=cutoff)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    )


def pending_syncs(now: dt.datetime | None = None) -> Any:
    """The rows to re-enqueue, oldest first: pending and unswept for ``SWEEP_AFTER`` s."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=float(conf.get_setting("SWEEP_AFTER")))
    return (
        _live(state_alias(), now, cutoff)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lte=cutoff))
        .order_by("pending_since")
    )


def exhausted_syncs(now: dt.datetime | None = None) -> Any:
    """The pending rows whose retryable failures in a row fill ``SYNC_GIVE_UP_AFTER_SWEEPS``
    task runs of ``SYNC_MAX_RETRIES + 1`` attempts (none when that setting is None)."""
    cycles = conf.get_setting("SYNC_GIVE_UP_AFTER_SWEEPS")
    if cycles is None:
        return UserSyncState.objects.none()
    now = now or timezone.now()
    per_cycle = int(conf.get_setting("SYNC_MAX_RETRIES")) + 1
    rows = _live(state_alias(), now, now)
    return rows.filter(
        last_result=MeisaSyncResult.FAILED_RETRYABLE, attempts__gte=max(int(cycles), 1) * per_cycle
    ).order_by("pending_since")


def give_up(user_pk: Any, cycles: int) -> bool:
    """Mark the user's pending version failed for good, as a 4xx is; False if leased."""
    alias = state_alias()
    lease = sync_lease(alias, [user_pk])
    if not lease.take():
        return False
    try:
        state = UserSyncState.objects.using(alias).get(user_id=user_pk)
        err = MeisaRetriesExhaustedError(
            f"Still failing after {cycles} sweep cycles; last error: {state.last_error}"
        )
        # Attempts start again from 0: the next change gets the full cycles again.
        write(lease, {**failure(state.version, str(err), permanent=True), "attempts": 0})
    finally:
        lease.release()
    announce.failed_for_good(user_pk, err)
    return True


def give_up_exhausted(now: dt.datetime | None = None) -> int:
    """Give up on up to ``SWEEP_BATCH_SIZE`` exhausted versions; return how many."""
    size = int(conf.get_setting("SWEEP_BATCH_SIZE"))
    pks = list(exhausted_syncs(now).values_list("user_id", flat=True)[:size])
    cycles = int(conf.get_setting("SYNC_GIVE_UP_AFTER_SWEEPS") or 0)
    return sum(give_up(pk, cycles) for pk in pks)


def sweep_pending_syncs(now: dt.datetime | None = None) -> int:
    """Give up on exhausted versions, then enqueue up to ``SWEEP_BATCH_SIZE`` pending syncs
    (how many is returned); a duplicate of a still-retrying task is harmless (the lease)."""
    if not conf.get_setting("ENABLED"):
        return 0
    now = now or timezone.now()
    given_up = give_up_exhausted(now)
    if given_up:
        logger.warning("Meisa sweep marked %d contact sync(s) failed after retrying", given_up)
    size = int(conf.get_setting("SWEEP_BATCH_SIZE"))
    pks = list(pending_syncs(now).values_list("user_id", flat=True)[:size])
    if not pks:
        return 0
    UserSyncState.objects.using(state_alias()).filter(user_id__in=pks).update(swept_at=now)
    publish_syncs(pks)
    logger.info("Meisa sweep re-enqueued %d pending contact sync(s)", len(pks))
    return len(pks)
