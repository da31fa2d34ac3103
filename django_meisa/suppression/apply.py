"""Apply a validated list as one set-based diff (COPY on PostgreSQL, batches elsewhere).

Runs inside the caller's transaction: the incoming keys go to a temporary table, then
three statements insert what is new, re-confirm what came back, and delete (or, when
the shrink guard trips, withhold) ``meisa`` rows the list left out. No row is ever
missing in between: readers see the table before or after the whole diff.
"""

# ruff: noqa: S608 - identifiers are quoted model/temp table names; values are parameters
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections

from django_meisa.models import SuppressedEmail

TEMP_TABLE = "meisa_incoming_emails"
LOAD_BATCH = 5000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class Diff:
    """Row counts of one applied diff."""

    loaded: int = 0
    held: int = 0
    added: int = 0
    removed: int = 0
    withheld: int = 0

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
        self.vendor = self.connection.vendor
        qn = self.connection.ops.quote_name
        self.table = qn(SuppressedEmail._meta.db_table)
        self.temp = qn(TEMP_TABLE)

    def apply(self, keys: Iterable[str], params: dict[str, Any], guard: ShrinkGuard) -> Diff:
        """Apply ``keys`` (normalized) and return the counts. Caller holds a transaction.

        ``params`` holds ``now``, ``previous_as_of`` and ``grace_cutoff`` (rows reported
        by an upsert after it are kept even when unlisted).
        """
        diff = Diff()
        with self.connection.cursor() as cursor:
            self._create_temp(cursor)
            diff.loaded = self._load(cursor, keys)
            diff.held = self._count_held(cursor)
            diff.added = self._insert_new(cursor, params["now"])
            self._reconfirm(cursor)
            self._remove_or_withhold(cursor, diff, params, guard)
            cursor.execute(f"DROP TABLE {self.temp}")
        return diff

    # Steps, in order -------------------------------------------------------------------

    def _create_temp(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {self.temp}")
        column = "text" if self.vendor == "postgresql" else "varchar(512)"
        cursor.execute(f"CREATE TEMPORARY TABLE {self.temp} (email {column} NOT NULL)")

    def _load(self, cursor: Any, keys: Iterable[str]) -> int:
        if self.vendor == "postgresql":
            loaded = self._copy(cursor, keys)
            cursor.execute(f"ANALYZE {self.temp}")  # temp tables are never auto-analyzed
            return loaded
        loaded = 0
        sql = f"INSERT INTO {self.temp} (email) VALUES (%s)"
        for batch in _batches(keys, LOAD_BATCH):
            cursor.executemany(sql, [(key,) for key in batch])
            loaded += len(batch)
        return loaded

    def _copy(self, cursor: Any, keys: Iterable[str]) -> int:
        raw = cursor.cursor
        loaded = 0
        with raw.copy(f"COPY {self.temp} (email) FROM STDIN") as copy:
            for batch in _batches(keys, LOAD_BATCH):
                lines = "\n".join(key.translate(_COPY_ESCAPES) for key in batch)
                copy.write(lines + "\n")
                loaded += len(batch)
        return loaded

    def _count_held(self, cursor: Any) -> int:
        cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE source = %s", ["meisa"])
        return int(cursor.fetchone()[0])

    def _insert_new(self, cursor: Any, now: dt.datetime) -> int:
        conflict = "ON CONFLICT (email) DO NOTHING"
        cursor.execute(
            f"INSERT INTO {self.table} (email, source, first_seen, reason) "
            f"SELECT DISTINCT i.email, %s, %s, '' FROM {self.temp} i "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.table} s WHERE s.email = i.email) "
            f"{conflict}",
            ["meisa", now],
        )
        return max(0, cursor.rowcount)

    def _reconfirm(self, cursor: Any) -> None:
        # Only rows whose state changes are written: withheld or reported ones now listed.
        cursor.execute(
            f"UPDATE {self.table} SET last_confirmed = NULL, reported_at = NULL "
            f"WHERE source = %s AND (last_confirmed IS NOT NULL OR reported_at IS NOT NULL) "
            f"AND EXISTS (SELECT 1 FROM {self.temp} i WHERE i.email = {self.table}.email)",
            ["meisa"],
        )

    def _remove_or_withhold(
        self, cursor: Any, diff: Diff, params: dict[str, Any], guard: ShrinkGuard
    ) -> None:
        if diff.loaded == 0 and guard.trips(loaded=0, held=diff.held, removing=diff.held):
            diff.withheld = self._withhold(cursor, params)
            return
        cursor.execute("SAVEPOINT meisa_diff_delete")
        cursor.execute(f"DELETE FROM {self.table} WHERE {self._unlisted_sql()}", self._args(params))
        removing = max(0, cursor.rowcount)
        if guard.trips(loaded=diff.loaded, held=diff.held, removing=removing):
            cursor.execute("ROLLBACK TO SAVEPOINT meisa_diff_delete")
            diff.withheld = self._withhold(cursor, params)
        else:
            diff.removed = removing
        cursor.execute("RELEASE SAVEPOINT meisa_diff_delete")

    def _withhold(self, cursor: Any, params: dict[str, Any]) -> int:
        # Mark only rows newly left out; rows withheld before keep their date.
        confirmed = params["previous_as_of"] or params["now"]
        cursor.execute(
            f"UPDATE {self.table} SET last_confirmed = %s "
            f"WHERE last_confirmed IS NULL AND {self._unlisted_sql()}",
            [confirmed, *self._args(params)],
        )
        cursor.execute(
            f"SELECT COUNT(*) FROM {self.table} WHERE {self._unlisted_sql()}", self._args(params)
        )
        return int(cursor.fetchone()[0])

    def _unlisted_sql(self) -> str:
        # meisa rows not in the list, except those an upsert reported within the grace.
        return (
            f"source = %s AND (reported_at IS NULL OR reported_at < %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {self.temp} i WHERE i.email = {self.table}.email)"
        )

    @staticmethod
    def _args(params: dict[str, Any]) -> list[Any]:
        return ["meisa", params["grace_cutoff"]]


def _batches(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
