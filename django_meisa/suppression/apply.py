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
from itertools import filterfalse
from typing import Any

from django.db import connections

from django_meisa.suppression.apply_store import LOCAL, MEISA, KeyStore, Special
from django_meisa.suppression.negative_cache import bump_generation, current_generation

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
        sha = _sha(emails)
        with self.connection.cursor() as cursor:
            store = KeyStore.for_connection(self.connection, cursor)
            unchanged = self._unchanged(store, sha, params.get("previous_digest") or "", guard)
            if unchanged is not None:
                return unchanged
            keys = set(emails)
            keys.discard("")
            diff = Diff(loaded=len(keys), skipped=list(emails).count(""))
            if not store.any_rows() and keys:
                _drop_unstorable(keys, diff)
                if store.first_load(keys):
                    diff.added = diff.loaded
            if not diff.added:
                self._apply_diff(store, keys, diff, params, guard)
        # Every process's negative cache must look again (an unchanged list skips this).
        bump_generation(self.connection.alias)
        token = current_generation(self.connection.alias)
        diff.digest = f"{diff.loaded}:{token}:{sha}"
        return diff

    def _unchanged(
        self, store: KeyStore, sha: str, previous: str, guard: ShrinkGuard
    ) -> Diff | None:
        # The same list as last time (its digest also holds the count of keys applied and
        # the generation token that refresh left), and the table as it left it: then
        # there is nothing to write. An unchanged token proves that nothing wrote to the
        # mirror since, in one primary-key read; otherwise one scan checks for exactly
        # that many plain meisa rows and no stamped ones (a report, a withheld deletion).
        count, token, previous_sha = [*previous.split(":"), "", "", ""][:3]
        if guard.force or not count.isdigit() or previous_sha != sha:
            return None
        if token != str(current_generation(self.connection.alias)):
            plain, stamped = store.meisa_counts()
            if plain != int(count) or stamped:
                return None
        return Diff(loaded=int(count), held=int(count), digest=previous, unchanged=True)

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
            gone.extend(filterfalse(keys.__contains__, batch))  # held, not listed
            keys.difference_update(batch)
        _drop_unstorable(keys, diff)  # only new keys: held ones were stored before
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


def _sha(emails: Sequence[str]) -> str:
    """The list's digest (34 hex digits of SHA-256), in C over a million keys."""
    digest = hashlib.sha256(DIGEST_VERSION)
    for start in range(0, len(emails), 50_000):
        digest.update("\n".join(emails[start : start + 50_000]).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()[:34]  # with "<count>:<token>:" it fits 64 characters


def _drop_unstorable(keys: set[str], diff: Diff) -> None:
    # Empty, or longer than any deliverable address (and than the column): one such
    # entry must not block every refresh, and can't match a real recipient.
    unstorable = [key for key in keys if len(key) > MAX_KEY_LENGTH]
    keys.difference_update(unstorable)
    diff.skipped += len(unstorable)
    diff.loaded -= len(unstorable)
    if diff.skipped:
        logger.warning("Skipped %d unusable entries of Meisa's list", diff.skipped)
