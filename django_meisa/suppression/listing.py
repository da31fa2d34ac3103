"""Make a downloaded list safe to apply: canonical keys, rejected entries, a sane ``as_of``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django_meisa.suppression.addresses import normalize_many

logger = logging.getLogger("django_meisa.suppression")

#: How far Meisa's ``as_of`` may be ahead of this server's clock (clock skew).
AS_OF_SKEW = dt.timedelta(minutes=5)
KEY_BATCH = 5000


@dataclass(frozen=True)
class PreparedList:
    """Meisa's list ready for ``DiffApplier``: unique canonical keys and what was set aside."""

    keys: list[str]
    rejected: int
    as_of: dt.datetime
    note: str


def prepare_list(emails: Sequence[object], as_of: dt.datetime, now: dt.datetime) -> PreparedList:
    """Return ``emails`` as unique canonical keys, and ``as_of`` clamped to ``now``.

    Called by the refresh before it applies anything. An entry that is not exactly one
    storable address (NUL, a lone surrogate, empty, over-long, several addresses...) is
    skipped and counted, never logged: one bad entry must not block the rest, new
    unsubscribes included. An ``as_of`` more than ``AS_OF_SKEW`` in the future is
    recorded as ``now``, with a note saying why, so it can't freeze later refreshes.
    """
    keys, rejected = canonical_keys(emails)
    if rejected:
        logger.warning(
            "Skipped %d entries of Meisa's list that are not one storable address", rejected
        )
    clamped, note = clamp_as_of(as_of, now)
    return PreparedList(keys=keys, rejected=rejected, as_of=clamped, note=note)


def canonical_keys(emails: Sequence[object]) -> tuple[list[str], int]:
    """Return the unique canonical keys of ``emails`` (in order) and how many had none.

    An entry that is not a string (null, a number, an object) has no key either.
    """
    unique: dict[str, None] = {}
    strings = [email for email in emails if isinstance(email, str)]
    rejected = len(emails) - len(strings)
    for start in range(0, len(strings), KEY_BATCH):
        for key in normalize_many(strings[start : start + KEY_BATCH]):
            if key:
                unique[key] = None
            else:
                rejected += 1
    return list(unique), rejected


def clamp_as_of(as_of: dt.datetime, now: dt.datetime) -> tuple[dt.datetime, str]:
    """Return ``as_of``, or ``now`` with a note when ``as_of`` is beyond ``now + skew``."""
    if as_of <= now + AS_OF_SKEW:
        return as_of, ""
    note = (
        f"Meisa's as_of {as_of.isoformat()} was ahead of this server's clock "
        f"({now.isoformat()}) by more than {int(AS_OF_SKEW.total_seconds())} s; "
        "the list was applied and recorded as of now."
    )
    logger.warning("Suppression refresh: %s", note)
    return now, note


def usable_applied_as_of(applied: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The applied ``as_of`` to compare a new list with, or None.

    An applied ``as_of`` beyond ``now + skew`` (stored before clamping existed, or by a
    clock that has since been fixed) is ignored: it would refuse every genuine list.
    """
    if applied is None or applied > now + AS_OF_SKEW:
        return None
    return applied
