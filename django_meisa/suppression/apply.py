"""Apply a validated list as one diff computed in Python, writing only what changed.

Runs inside the caller's transaction. The held ``meisa`` keys are read out in one pass
(COPY on PostgreSQL, an unbuffered cursor on MySQL/MariaDB), compared with the list in a
set, and only the difference is written: new keys inserted, listed stamped rows
re-confirmed, unlisted ones deleted (or, when the shrink guard trips, withheld). No row is
ever missing in between: readers see the table before or after the whole diff. Every
statement is DML (``apply_store``), so a role with SELECT/INSERT/UPDATE/DELETE suffices.
An unchanged list (same digest, table as the last refresh left it) writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections

from django_meisa.suppression.apply_store import LOCAL, MEISA, KeyStore, Special

logger = logging.getLogger("django_meisa.suppression")

MAX_KEY_LENGTH = 512  # SuppressedEmail.email max_length
DIGEST_VERSION = b"meisa-keys-v1\n"  # change it when the key function changes


@dataclass
class Diff:
    """Row counts of one applied diff."""

    loaded: int = 0
    held: int = 0
    added: int = 0
    removed: int = 0
    withheld: int = 0
    skipped: int = 0  # entries with no storable key
    digest: str = ""  # of the applied keys: an equal digest next time may skip the diff
    unchanged: bool = False  # the list and table matched: nothing was written

    @property
    def confirmed(self) -> int:
        """List entries that were already held."""
        return max(0, self.loaded - self.added)


@dataclass(frozen=True)
class ShrinkGuard:
    """When a refresh's deletions are an alarm rather than an instruction."""

    max_fraction: float
    min_count: int
    force: bool

    def trips(self, *, loaded: int, held: int, removing: int) -> bool:
        """True when ``removing`` of ``held`` rows should be withheld."""
        if self.force or removing == 0:
            return False
        if loaded == 0:
            return True  # an empty list while we hold addresses is never trusted
        return removing > self.min_count and removing > self.max_fraction * held


class DiffApplier:
    """Applies keys to ``SuppressedEmail`` on one database connection (see module doc)."""

    def __init__(self, using: str) -> None:
        self.connection = connections[using]

    def apply(self, emails: Sequence[str], params: dict[str, Any], guard: ShrinkGuard) -> Diff:
        """Apply Meisa's ``emails`` (canonical keys; "" marks none) and return the counts.

        The caller holds a transaction. ``params`` holds ``now``, ``as_of``, ``previous_as_of``,
        ``grace_cutoff`` (rows an upsert reported after it are kept even when unlisted) and
        optionally ``previous_digest`` (``Diff.digest`` of the last applied list).
        """
        keys, skipped, digest = _usable_keys(emails)
        diff = Diff(loaded=len(keys), skipped=skipped, digest=digest)
        with self.connection.cursor() as cursor:
            store = KeyStore.for_connection(self.connection, cursor)
            same = digest == params.get("previous_digest") and not guard.force
            if same and _unchanged(store, len(keys)):
                diff.held = diff.loaded
                diff.unchanged = True
                return diff
            if not store.any_rows() and keys and store.first_load(keys):
                diff.added = diff.loaded
                return diff
            self._apply_diff(store, keys, diff, params, guard)
        return diff

    def _apply_diff(
        self,
        store: KeyStore,
        keys: set[str],
        diff: Diff,
        params: dict[str, Any],
        guard: ShrinkGuard,
    ) -> None:
        special = store.special_rows()
        reconfirm = special.flagged & keys
        _mark_local(store, special, keys, params["as_of"])
        keys -= special.local  # held as local rows: never inserted as meisa rows
        gone: list[str] = []
        for batch in store.held_keys():  # keys shrinks to the new ones as held ones show
            diff.held += len(batch)
            for key in batch:
                if key in keys:
                    keys.remove(key)
                else:
                    gone.append(key)
        diff.added = store.insert(sorted(keys), params["now"])
        unstamp = "last_confirmed = NULL, reported_at = NULL"
        store.update(unstamp, "source = %s", reconfirm, [MEISA])
        self._remove_or_withhold(store, gone, diff, params, guard)

    def _remove_or_withhold(
        self,
        store: KeyStore,
        gone: list[str],
        diff: Diff,
        params: dict[str, Any],
        guard: ShrinkGuard,
    ) -> None:
        args = [MEISA, params["grace_cutoff"]]
        if not gone:
            return
        if not guard.trips(loaded=diff.loaded, held=diff.held, removing=len(gone)):
            diff.removed = store.delete(UNLISTED, gone, args)  # fewer still can't trip it
            return
        cursor = store.cursor
        cursor.execute("SAVEPOINT meisa_diff_delete")
        removing = store.delete(UNLISTED, gone, args)
        if guard.trips(loaded=diff.loaded, held=diff.held, removing=removing):
            cursor.execute("ROLLBACK TO SAVEPOINT meisa_diff_delete")
            diff.withheld = _withhold(store, gone, params)
        else:
            diff.removed = removing
        cursor.execute("RELEASE SAVEPOINT meisa_diff_delete")


# meisa rows, except those an upsert reported within the grace. Re-checked per row at
# write time, so a concurrent report (a fresh stamp) wins.
UNLISTED = "source = %s AND (reported_at IS NULL OR reported_at < %s)"


def _withhold(store: KeyStore, gone: list[str], params: dict[str, Any]) -> int:
    # Mark only rows newly left out; rows withheld before keep their date.
    confirmed = params["previous_as_of"] or params["now"]
    args = [MEISA, params["grace_cutoff"]]
    store.update(
        "last_confirmed = %s", f"last_confirmed IS NULL AND {UNLISTED}", gone, [confirmed, *args]
    )
    return store.count(UNLISTED, gone, args)


def _mark_local(store: KeyStore, special: Special, keys: set[str], as_of: dt.datetime) -> None:
    # Local rows are few: record on each whether Meisa lists it too, so deleting it in
    # the admin can hand it over to Meisa instead of making it sendable.
    store.update("last_confirmed = %s", "source = %s", special.local & keys, [as_of, LOCAL])
    unlisted = special.local_marked - keys
    store.update("last_confirmed = NULL", "source = %s", unlisted, [LOCAL])


def _unchanged(store: KeyStore, listed: int) -> bool:
    # The same list as last time, and the table as that refresh left it: exactly that
    # many plain meisa rows and no stamped ones (a report, a withheld deletion).
    plain, stamped = store.meisa_counts()
    return plain == listed and stamped == 0


def _usable_keys(emails: Sequence[str]) -> tuple[set[str], int, str]:
    """The distinct storable keys, how many entries had none, and the keys' digest."""
    digest = hashlib.sha256(DIGEST_VERSION)
    keys: set[str] = set()
    skipped = 0
    for start in range(0, len(emails), 50_000):
        batch = [key for key in emails[start : start + 50_000] if 0 < len(key) <= MAX_KEY_LENGTH]
        skipped += min(50_000, len(emails) - start) - len(batch)
        digest.update("\n".join(batch).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
        keys.update(batch)
    if skipped:
        # Empty, or longer than any deliverable address (and than the column): one such
        # entry must not block every refresh, and can't match a real recipient.
        logger.warning("Skipped %d unusable entries of Meisa's list", skipped)
    return keys, skipped, digest.hexdigest()
