"""One refresh of the mirror: lease, download, validate, apply the diff, record the outcome."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.db import DatabaseError, router, transaction
from django.utils import timezone

from django_meisa import conf
from django_meisa.client import MeisaClient
from django_meisa.exceptions import MeisaStaleListError
from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression.apply import Diff, DiffApplier, ShrinkGuard
from django_meisa.suppression.freshness import forget_freshness
from django_meisa.suppression.listing import ReceivedList, receive_list, usable_applied_as_of
from django_meisa.suppression.lock import acquire_lease, new_owner, release_lease

logger = logging.getLogger("django_meisa.suppression")


@dataclass(frozen=True)
class RefreshResult:
    """The outcome of ``refresh_suppressions``: counts, or why nothing was applied.

    ``error`` is None on success. ``skipped`` is True when nothing was tried, and
    ``skipped_reason`` says why (another run holds the lock, or ``MEISA["ENABLED"]`` is
    False). ``withheld`` counts the deletions the shrink guard kept back, ``rejected``
    the list entries skipped because they are not one storable address; ``note`` says
    why the list was adjusted (an ``as_of`` in the future), if it was.
    """

    added: int = 0
    confirmed: int = 0
    removed: int = 0
    withheld: int = 0
    skipped: bool = False
    skipped_reason: str | None = None
    error: str | None = None
    as_of: dt.datetime | None = None
    count: int | None = None
    rejected: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when a list was applied (possibly with deletions withheld)."""
        return self.error is None and not self.skipped

    def summary(self) -> str:
        """One line of counts (the command's output and the admin's messages)."""
        as_of = self.as_of.isoformat() if self.as_of else "?"
        line = (
            f"added {self.added}, confirmed {self.confirmed}, removed {self.removed}, "
            f"withheld {self.withheld}, rejected {self.rejected} "
            f"(Meisa list of {self.count} as of {as_of})"
        )
        return f"{line}. {self.note}" if self.note else line

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-friendly data (for the task's return value)."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return data


def refresh_suppressions(
    *, force: bool = False, client: MeisaClient | None = None
) -> RefreshResult:
    """Download Meisa's list and apply it to ``SuppressedEmail`` as one diff.

    Called by the ``refresh_suppressed_emails`` task, the ``meisa_refresh_suppressions``
    command and the admin's "refresh now". ``force`` applies a list older than the one
    applied, and (like ``MEISA["SUPPRESSION_FORCE_SHRINK"]``) the deletions the shrink
    guard would withhold. Never raises for a failed refresh:
    the table is left untouched and the error is logged, recorded on
    ``SuppressionRefreshState`` and returned in ``RefreshResult.error``.
    """
    if not conf.get_setting("ENABLED"):
        return RefreshResult(skipped=True, skipped_reason='MEISA["ENABLED"] is False')
    owner = new_owner()
    try:
        if not acquire_lease(owner):
            logger.info("Suppression refresh skipped: another refresh holds the lock")
            return RefreshResult(skipped=True, skipped_reason="another refresh holds the lock")
    except DatabaseError as err:
        return _failed(err)
    try:
        return _refresh(force=force, client=client)
    except Exception as err:  # every failure is recorded; the transaction rolled back
        return _failed(err)
    finally:
        _release(owner)


def _refresh(*, force: bool, client: MeisaClient | None) -> RefreshResult:
    started = timezone.now()
    SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK).update(
        last_attempt_at=started
    )
    listing = (client or MeisaClient()).fetch_unsubscribed_emails()
    received = receive_list(listing.emails, listing.count, listing.as_of, started)
    guard = ShrinkGuard(
        max_fraction=float(conf.get_setting("SUPPRESSION_SHRINK_MAX_FRACTION")),
        min_count=int(conf.get_setting("SUPPRESSION_SHRINK_MIN_COUNT")),
        force=force or bool(conf.get_setting("SUPPRESSION_FORCE_SHRINK")),
    )
    diff, rejected = _apply(received, guard, started, force=force)
    result = RefreshResult(
        added=diff.added,
        confirmed=diff.confirmed,
        removed=diff.removed,
        withheld=diff.withheld,
        as_of=received.as_of,
        count=received.count,
        rejected=rejected,
        note=received.note,
    )
    _log_success(result)
    forget_freshness()
    return result


def _apply(
    received: ReceivedList, guard: ShrinkGuard, now: dt.datetime, *, force: bool
) -> tuple[Diff, int]:
    # The diff and the entries rejected. The same list as last time, with the table as
    # it left it, is recognised from its fingerprint before a single key is computed:
    # it changes no row, so only the state is recorded (``force`` always diffs in full).
    using = router.db_for_write(SuppressedEmail)
    with transaction.atomic(using=using):
        state = (
            SuppressionRefreshState.objects.using(using)
            .select_for_update()
            .get(pk=SuppressionRefreshState.SINGLETON_PK)
        )
        applied = _refuse_stale(state, received.as_of, now, force=force)
        applier = DiffApplier(using)
        diff = None if force else applier.unchanged(received.fingerprint, state.list_digest)
        rejected = state.last_rejected  # the same entries as the list that was applied
        if diff is None:
            keys, rejected = received.keys()
            diff = applier.apply(keys, _params(received, applied, now), guard)
            rejected += diff.skipped
        _record_success(state, received, diff, rejected)
    return diff, rejected


def _refuse_stale(
    state: SuppressionRefreshState, as_of: dt.datetime, now: dt.datetime, *, force: bool
) -> dt.datetime | None:
    # The applied as_of worth comparing with; a list older than it is refused.
    applied = usable_applied_as_of(state.as_of, now)
    if not force and applied is not None and as_of < applied:
        raise MeisaStaleListError(
            f"Meisa's list is as of {as_of.isoformat()}, older than the "
            f"applied {applied.isoformat()}; not applied. If the applied date is "
            "wrong, run 'manage.py meisa_refresh_suppressions --force'"
        )
    return applied


def _params(
    received: ReceivedList, applied: dt.datetime | None, now: dt.datetime
) -> dict[str, Any]:
    return {
        "now": now,
        "as_of": received.as_of,
        "previous_as_of": applied,
        "grace_cutoff": _grace_cutoff(received.as_of),
        "fingerprint": received.fingerprint,
    }


def _grace_cutoff(as_of: dt.datetime) -> dt.datetime:
    grace = dt.timedelta(seconds=float(conf.get_setting("SUPPRESSION_STATUS_GRACE")))
    try:
        return as_of - grace
    except OverflowError:  # an as_of near year 1: nothing was reported before it anyway
        return as_of


def _record_success(
    state: SuppressionRefreshState, received: ReceivedList, diff: Diff, rejected: int
) -> None:
    state.last_success_at = timezone.now()
    state.as_of = received.as_of
    state.count = received.count
    state.last_added = diff.added
    state.last_confirmed_count = diff.confirmed
    state.last_removed = diff.removed
    state.withheld = diff.withheld
    state.last_rejected = rejected
    state.last_note = received.note
    state.list_digest = diff.digest
    state.save(
        update_fields=[
            "last_success_at",
            "as_of",
            "count",
            "last_added",
            "last_confirmed_count",
            "last_removed",
            "withheld",
            "last_rejected",
            "last_note",
            "list_digest",
        ]
    )


def forget_applied_as_of() -> None:
    """Clear the applied ``as_of``, so the next refresh applies whatever list it gets.

    The operator's way out when a wrong date was applied (``meisa_refresh_suppressions
    --reset-as-of``); recorded in the state's note. Database errors propagate.
    """
    SuppressionRefreshState.load()
    SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK).update(
        as_of=None, last_note="The applied as_of was reset by an operator."
    )
    logger.warning("Suppression refresh: the applied as_of was reset by an operator")


def _log_success(result: RefreshResult) -> None:
    counts = (result.added, result.confirmed, result.removed, result.withheld)
    if result.withheld:
        logger.warning(
            "Suppression refresh WITHHELD %d deletions (shrink guard): the list shrank "
            "suspiciously. Added %d, confirmed %d, removed %d. Run "
            "'manage.py meisa_refresh_suppressions --force' if the shrink is genuine.",
            result.withheld,
            *counts[:3],
        )
        return
    logger.info(
        "Suppression refresh: added %d, confirmed %d, removed %d, withheld %d, rejected %d",
        *counts,
        result.rejected,
    )


def _failed(err: BaseException) -> RefreshResult:
    message = f"{type(err).__name__}: {err}"[:2000]
    logger.error(
        "Suppression refresh failed; the table is unchanged: %s",
        message,
        exc_info=not _expected(err),
    )
    try:
        SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK).update(
            last_error=message, last_error_at=timezone.now()
        )
    except DatabaseError:
        logger.exception("Could not record the suppression refresh error")
    return RefreshResult(error=message)


def _expected(err: BaseException) -> bool:
    from django_meisa.exceptions import MeisaError

    return isinstance(err, MeisaError)


def _release(owner: str) -> None:
    try:
        release_lease(owner)
    except DatabaseError:
        logger.exception("Could not release the suppression refresh lease")
