"""Apply a validated list as one diff computed in Python, writing only what changed.

Runs inside the caller's transaction. The held ``meisa`` keys are read out in one pass
(COPY on PostgreSQL, an unbuffered cursor on MySQL/MariaDB), compared with the list in a
set, and only the difference is written: new keys inserted, listed stamped rows
re-confirmed, unlisted ones deleted (or, when the shrink guard trips, withheld). No row is
ever missing in between: readers see the table before or after the whole diff. Every
statement is DML (``apply_store``), so a role with SELECT/INSERT/UPDATE/DELETE suffices.
An unchanged list (same fingerprint, table as the last refresh left it) is recognised
before any key is computed (``DiffApplier.unchanged``) and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connections

from django_meisa.suppression.addresses import MAX_KEY_LENGTH
from django_meisa.suppression.apply_store import LOCAL, MEISA, KeyStore, Special
from django_meisa.suppression.negative_cache import bump_generation, current_generation

logger = logging.getLogger("django_meisa.suppression")


@dataclass
class Diff:
    """Row counts of one applied diff."""

    loaded: int = 0
    held: int = 0
    added: int = 0
    removed: int = 0
    withheld: int = 0
    skipped: int = 0  # entries with no storable key
    kept: int = 0  # unlisted rows kept: an upsert reported them within the grace
    digest: str = ""  # "" unless an equal list next time may skip the diff (``settled``)
    unchanged: bool = False  # the list and table matched: nothing was written

    @property
    def confirmed(self) -> int:
        """List entries that were already held."""
        return max(0, self.loaded - self.added)

    @property
    def settled(self) -> bool:
        """True when the same list applied again would change no row, whenever it runs.

        Rows withheld or kept within the grace wait on the clock or the settings: while
        any is left, every refresh diffs in full.
        """
        return not (self.withheld or self.kept)


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

    def unchanged(self, fingerprint: str, previous: str) -> Diff | None:
        """The counts of re-applying the last list, or None when a full diff is needed.

        Called by the refresh inside its transaction, before computing any key.
        ``fingerprint`` is the new list's (``listing.list_fingerprint``), ``previous`` the
        ``Diff.digest`` recorded by the last refresh: "<keys applied>:<generation
        token>:<fingerprint>", or "" when that refresh left rows that wait on time.
        """
        count, token, previous_fingerprint = [*previous.split(":"), "", "", ""][:3]
        if not count.isdigit() or previous_fingerprint != fingerprint:
            return None
        current = current_generation(self.connection.alias)
        if token != str(current) and not self._table_matches(int(count)):
            return None
        digest = f"{count}:{current}:{fingerprint}"
        return Diff(loaded=int(count), held=int(count), digest=digest, unchanged=True)

    def _table_matches(self, count: int) -> bool:
        # Something wrote to the mirror since (a local row, the admin, a status): the
        # table still is as the last refresh left it when it holds exactly that many
        # plain meisa rows and no stamped one (one scan). A write that changed a listed
        # row changes one of those counts; one to a local row changes nothing applied.
        with self.connection.cursor() as cursor:
            plain, stamped = KeyStore.for_connection(self.connection, cursor).meisa_counts()
        return plain == count and not stamped

    def apply(self, keys: set[str], params: dict[str, Any], guard: ShrinkGuard) -> Diff:
        """Apply Meisa's ``keys`` (unique canonical keys) and return the counts.

        The caller holds a transaction; ``keys`` is consumed (a million keys are not
        copied). ``params`` holds ``now``, ``as_of``, ``previous_as_of``, ``grace_cutoff``
        (rows an upsert reported after it are kept even when unlisted) and
        ``fingerprint`` (the list's, recorded in ``Diff.digest`` when the diff settled).
        """
        with self.connection.cursor() as cursor:
            store = KeyStore.for_connection(self.connection, cursor)
            diff = Diff(loaded=len(keys))
            if not store.any_rows() and keys:
                _drop_unstorable(keys, diff)
                if store.first_load(keys):
                    diff.added = diff.loaded
            if not diff.added:
                self._apply_diff(store, keys, diff, params, guard)
        # Every process's negative cache must look again (an unchanged list skips this).
        bump_generation(self.connection.alias)
        if diff.settled:
            token = current_generation(self.connection.alias)
            diff.digest = f"{diff.loaded}:{token}:{params['fingerprint']}"
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
        _mark_local(store, special, keys)
        keys -= special.local  # held as local rows: never inserted as meisa rows
        gone: list[str] = []
        for batch in store.held_keys():  # keys shrinks to the new ones as held ones show
            diff.held += len(batch)
            held = set(batch)  # set operations in C: half the time of a test per key
            gone.extend(held - keys)  # held, not listed
            keys -= held
        _drop_unstorable(keys, diff)  # only new keys: held ones were stored before
        diff.added = store.insert(sorted(keys), params["now"])
        unstamp = "withheld_last_listed = NULL, reported_at = NULL"
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
            diff.kept = len(gone) - diff.removed
            return
        cursor = store.cursor
        cursor.execute("SAVEPOINT meisa_diff_delete")
        removing = store.delete(UNLISTED, gone, args)
        if guard.trips(loaded=diff.loaded, held=diff.held, removing=removing):
            cursor.execute("ROLLBACK TO SAVEPOINT meisa_diff_delete")
            diff.withheld = _withhold(store, gone, params)
        else:
            diff.removed = removing
            diff.kept = len(gone) - removing
        cursor.execute("RELEASE SAVEPOINT meisa_diff_delete")


# meisa rows, except those an upsert reported within the grace. Re-checked per row at
# write time, so a concurrent report (a fresh stamp) wins.
UNLISTED = "source = %s AND (reported_at IS NULL OR reported_at < %s)"


def _withhold(store: KeyStore, gone: list[str], params: dict[str, Any]) -> int:
    # Mark only rows newly left out; rows withheld before keep their date.
    confirmed = params["previous_as_of"] or params["now"]
    args = [MEISA, params["grace_cutoff"]]
    newly = f"withheld_last_listed IS NULL AND {UNLISTED}"
    store.update("withheld_last_listed = %s", newly, gone, [confirmed, *args])
    return store.count(UNLISTED, gone, args)


def _mark_local(store: KeyStore, special: Special, keys: set[str]) -> None:
    # Local rows are few: record on each whether Meisa lists it too, so deleting it in
    # the admin can hand it over to Meisa instead of making it sendable. Only changes
    # are written: a mark doesn't depend on the list's date.
    listed = (special.local - special.local_marked) & keys
    store.update("meisa_lists_too = %s", "source = %s", listed, [True, LOCAL])
    unlisted = special.local_marked - keys
    store.update("meisa_lists_too = %s", "source = %s", unlisted, [False, LOCAL])


def _drop_unstorable(keys: set[str], diff: Diff) -> None:
    # Longer than any deliverable address (and than the column): one such entry must
    # not block every refresh, and can't match a real recipient.
    if not keys or max(map(len, keys)) <= MAX_KEY_LENGTH:
        return  # the usual case, found in C: a million keys are not walked in Python
    unstorable = [key for key in keys if len(key) > MAX_KEY_LENGTH]
    keys.difference_update(unstorable)
    diff.skipped += len(unstorable)
    diff.loaded -= len(unstorable)
    logger.warning("Skipped %d unusable entries of Meisa's list", len(unstorable))
