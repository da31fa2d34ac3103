"""The cross-host refresh lease: one conditional UPDATE on the refresh-state row."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from django_meisa import conf
from django_meisa.models import SuppressionRefreshState


def new_owner() -> str:
    """Return a fresh lease owner token (unique per refresh run)."""
    return uuid.uuid4().hex


def acquire_lease(owner: str) -> bool:
    """Take the refresh lease for ``owner``; False when another run holds a live one.

    The UPDATE ... WHERE lease is free is atomic on every database, so two workers on
    different hosts can't both win. A crashed holder's lease expires after
    ``MEISA["SUPPRESSION_LOCK_TIMEOUT"]`` seconds.
    """
    _ensure_state_row()
    now = timezone.now()
    timeout = dt.timedelta(seconds=float(conf.get_setting("SUPPRESSION_LOCK_TIMEOUT")))
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = (
        SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK)
        .filter(free)
        .update(lease_until=now + timeout, lease_owner=owner)
    )
    return taken == 1


def release_lease(owner: str) -> None:
    """Give the lease back, if ``owner`` still holds it."""
    SuppressionRefreshState.objects.filter(
        pk=SuppressionRefreshState.SINGLETON_PK, lease_owner=owner
    ).update(lease_until=None, lease_owner="")


def _ensure_state_row() -> None:
    try:
        with transaction.atomic():
            SuppressionRefreshState.load()
    except IntegrityError:
        pass  # another worker created it at the same moment
