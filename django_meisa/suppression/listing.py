"""Make a downloaded list safe to apply: its fingerprint, a sane ``as_of``, canonical keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django_meisa.suppression.addresses import canonical_key, canonical_keys

logger = logging.getLogger("django_meisa.suppression")

#: How far Meisa's ``as_of`` may be ahead of this server's clock (clock skew).
AS_OF_SKEW = dt.timedelta(minutes=5)
KEY_BATCH = 5000


#: Names the rules of ``canonical_key``: change it whenever a key it returns changes, so
#: that no refresh skips re-keying a list it last applied under other rules.
KEY_RULES = b"meisa-raw-list-v1 canonical_key-2026-11\n"
#: Values whose keys most rule changes would alter (case, IDNA, quoting, display
#: names, comments, a trailing dot, NFC): digested with every list as a second guard.
KEY_PROBES = (
    '"Jane Doe" <Jane.Doe+Tag@Example.COM>',
    "x@B\u00dcCHER.example.",
    '"q"@example.com',
    "Ab@Example.com (comment)",
    "e\u0301@xn--bcher-kva.example",
    "a@b",
)
FINGERPRINT_BATCH = 50_000


@dataclass(frozen=True)
class ReceivedList:
    """Meisa's list as downloaded, with what the refresh decides before parsing it.

    ``fingerprint`` digests the raw entries and the key rules: equal to the last applied
    list's, the refresh may skip computing a single key. ``as_of`` is clamped
    (``clamp_as_of``) and ``note`` says why, if it was.
    """

    emails: Sequence[object]
    count: int
    as_of: dt.datetime
    note: str
    fingerprint: str

    def keys(self) -> tuple[set[str], int]:
        """The unique canonical keys and how many entries had none (logged)."""
        keys, rejected = unique_keys(self.emails)
        if rejected:
            logger.warning(
                "Skipped %d entries of Meisa's list that are not one storable address",
                rejected,
            )
        return keys, rejected


def receive_list(
    emails: Sequence[object], count: int, as_of: dt.datetime, now: dt.datetime
) -> ReceivedList:
    """Return the downloaded list with its fingerprint, and ``as_of`` clamped to ``now``.

    Called by the refresh before it takes its transaction; parses no entry. An entry
    that is not exactly one storable address (NUL, a lone surrogate, empty, over-long,
    several addresses...) is later skipped and counted by ``ReceivedList.keys``, never
    logged: one bad entry must not block the rest. An ``as_of`` more than ``AS_OF_SKEW``
    in the future is recorded as ``now``, with a note, so it can't freeze later refreshes.
    """
    clamped, note = clamp_as_of(as_of, now)
    return ReceivedList(emails, count, clamped, note, list_fingerprint(emails))


def list_fingerprint(emails: Sequence[object]) -> str:
    """34 hex digits of SHA-256 over the raw entries, in order, and the key rules.

    Injective over lists of JSON values: a batch of strings is hashed as its lines when
    no entry holds a newline (about 0.1 s a million, in C), and as JSON otherwise.
    """
    digest = hashlib.sha256(KEY_RULES)
    digest.update(json.dumps([canonical_key(probe) for probe in KEY_PROBES]).encode())
    for start in range(0, len(emails), FINGERPRINT_BATCH):
        _digest_batch(digest, emails[start : start + FINGERPRINT_BATCH])
    return digest.hexdigest()[:34]  # with "<count>:<token>:" it fits 64 characters


def _digest_batch(digest: Any, batch: Sequence[object]) -> None:
    # "T<n>\n" then exactly n lines, or "J" then one line of JSON (which escapes every
    # newline): either way the stream reads back to one list only. join() refuses any
    # entry that is not a string, in C, which a per-entry type check is not.
    try:
        text = "\n".join(batch)  # type: ignore[arg-type]
    except TypeError:
        text = ""
    if text and text.count("\n") == len(batch) - 1:
        digest.update(b"T%d\n" % len(batch))
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    else:
        digest.update(b"J" + json.dumps(list(batch)).encode() + b"\n")


def unique_keys(emails: Sequence[object]) -> tuple[set[str], int]:
    """Return the unique canonical keys of ``emails`` and how many entries had none.

    An entry that is not a string (null, a number, an object) has no key either. Set
    operations on each batch, in C: a loop over a million keys cost as much as parsing.
    """
    unique: set[str | None] = set()
    rejected = 0
    for start in range(0, len(emails), KEY_BATCH):
        batch = canonical_keys(emails[start : start + KEY_BATCH])
        rejected += batch.count(None)
        unique.update(batch)
    unique.discard(None)
    return unique, rejected  # type: ignore[return-value]  # None discarded


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
