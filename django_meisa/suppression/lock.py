"""The cross-host refresh lease: the one lease (``leases.Lease``) on the refresh-state row."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from django_meisa import conf
from django_meisa.leases import Lease, new_token
from django_meisa.models import SuppressionRefreshState


def new_owner() -> str:
    """Return a fresh lease owner token (unique per refresh run)."""
    return new_token()


def refresh_lease(owner: str) -> Lease:
    """The refresh lease for ``owner``, lasting ``MEISA["SUPPRESSION_LOCK_TIMEOUT"]`` s."""
    rows = SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK)
    seconds = float(conf.get_setting("SUPPRESSION_LOCK_TIMEOUT"))
    return Lease(rows, seconds, token_field="lease_owner", token=owner)  # noqa: S106


def acquire_lease(owner: str) -> bool:
    """Take the refresh lease for ``owner``; False when another run holds a live one.

    Two workers on different hosts can't both win; a crashed holder's lease expires
    after ``MEISA["SUPPRESSION_LOCK_TIMEOUT"]`` seconds.
    """
    _ensure_state_row()
    return refresh_lease(owner).take() == 1


def release_lease(owner: str) -> None:
    """Give the lease back, if ``owner`` still holds it."""
    refresh_lease(owner).release()


def _ensure_state_row() -> None:
    try:
        with transaction.atomic():
            SuppressionRefreshState.load()
    except IntegrityError:
        pass  # another worker created it at the same moment
