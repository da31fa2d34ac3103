"""Apply a validated list as one set-based diff (COPY on PostgreSQL, batches elsewhere).

Runs inside the caller's transaction: the incoming keys go to a temporary table, one
join of it with the mirror finds what is new and what is gone, then small statements
insert the new, re-confirm what came back, and delete (or, when the shrink guard trips,
withhold) the ``meisa`` rows the list left out. No row is ever
missing in between: readers see the table before or after the whole diff.
"""

# ruff: noqa: S608 - identifiers are quoted model/temp table names; values are parameters
from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections

from django_meisa.models import SuppressedEmail
from django_meisa.suppression.addresses import normalize_many

logger = logging.getLogger("django_meisa.suppression")

TEMP_TABLE = "meisa_incoming_emails"
CHANGES_TABLE = "meisa_refresh_changes"
UNIQUE_CONSTRAINT = "meisa_suppressed_email_uniq"  # SuppressedEmail.Meta.constraints
MAX_KEY_LENGTH = 512  # SuppressedEmail.email max_length
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
        self.changes = qn(CHANGES_TABLE)

    def apply(self, emails: Sequence[str], params: dict[str, Any], guard: ShrinkGuard) -> Diff:
        """Apply Meisa's ``emails`` (normalized here) and return the counts.

        The caller holds a transaction. ``params`` holds ``now``, ``as_of``, ``previous_as_of``,
        ``grace_cutoff`` (rows an upsert reported after it are kept even when unlisted).
        """
        with self.connection.cursor() as cursor:
            first = self._first_load(cursor, emails)
            if first is not None:
                return first
            diff = Diff()
            self._create_temp(cursor)
            diff.loaded = self._load(cursor, self.temp, _key_batches(emails))
            diff.held = self._count_held(cursor)
            self._compute_changes(cursor)
            diff.added = self._insert_new(cursor, params["now"])
            self._reconfirm(cursor)
            self._mark_local(cursor, params["as_of"])
            self._remove_or_withhold(cursor, diff, params, guard)
            cursor.execute(f"DROP TABLE {self.temp}")
            cursor.execute(f"DROP TABLE {self.changes}")
        return diff

    def _first_load(self, cursor: Any, emails: Sequence[str]) -> Diff | None:
        # PostgreSQL, empty table: COPY straight in (other columns default in the
        # database) with the unique index dropped, then rebuild it in one sort, which is
        # far cheaper than a million random index inserts. The ALTERs lock the table
        # until commit, so senders wait rather than read the still-empty table. A
        # duplicate key (two spellings of one address) rolls back to the general path.
        if self.vendor != "postgresql" or not emails:
            return None
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table})")
        if cursor.fetchone()[0]:
            return None
        unique = self.connection.ops.quote_name(UNIQUE_CONSTRAINT)
        cursor.execute("SAVEPOINT meisa_first_load")
        try:
            cursor.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT {unique}")
            loaded = self._load(cursor, self.table, _key_batches(emails))
            cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {unique} UNIQUE (email)")
        except (IntegrityError, self.connection.Database.IntegrityError):  # type: ignore[attr-defined]
            cursor.execute("ROLLBACK TO SAVEPOINT meisa_first_load")
            return None
        cursor.execute("RELEASE SAVEPOINT meisa_first_load")
        return Diff(loaded=loaded, added=loaded)

    # Steps, in order -------------------------------------------------------------------

    def _create_temp(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {self.temp}")
        column = "text" if self.vendor == "postgresql" else "varchar(512)"
        cursor.execute(f"CREATE TEMPORARY TABLE {self.temp} (email {column} NOT NULL)")

    def _load(self, cursor: Any, table: str, batches: Iterable[list[str]]) -> int:
        if self.vendor == "postgresql":
            loaded = self._copy(cursor, table, batches)
            cursor.execute(f"ANALYZE {table}")  # temp tables are never auto-analyzed
            return loaded
        loaded = 0
        sql = f"INSERT INTO {table} (email) VALUES (%s)"
        for batch in batches:
            cursor.executemany(sql, [(key,) for key in batch])
            loaded += len(batch)
        # Without it, SQLite runs each NOT EXISTS as a scan: quadratic.
        cursor.execute(f"CREATE INDEX {TEMP_TABLE}_email ON {table} (email)")
        return loaded

    def _copy(self, cursor: Any, table: str, batches: Iterable[list[str]]) -> int:
        raw = cursor.cursor
        loaded = 0
        if not hasattr(raw, "copy"):  # psycopg2
            for batch in batches:
                raw.copy_expert(f"COPY {table} (email) FROM STDIN", io.StringIO(_lines(batch)))
                loaded += len(batch)
            return loaded
        with raw.copy(f"COPY {table} (email) FROM STDIN") as copy:
            for batch in batches:
                copy.write(_lines(batch))
                loaded += len(batch)
        return loaded

    def _count_held(self, cursor: Any) -> int:
        cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE source = %s", ["meisa"])
        return int(cursor.fetchone()[0])

    def _compute_changes(self, cursor: Any) -> None:
        # One pass over both sides: listed keys we don't hold (new_email) and rows the
        # list doesn't have (gone_id). PostgreSQL does it as one hash full join.
        cursor.execute(f"DROP TABLE IF EXISTS {self.changes}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {self.changes} (new_email varchar(512), gone_id bigint)"
        )
        if self.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {self.changes} (new_email, gone_id) SELECT i.email, s.id "
                f"FROM {self.temp} i FULL JOIN {self.table} s ON s.email = i.email "
                f"WHERE i.email IS NULL OR s.id IS NULL"
            )
            cursor.execute(f"ANALYZE {self.changes}")
            return
        cursor.execute(
            f"INSERT INTO {self.changes} (new_email, gone_id) SELECT i.email, NULL "
            f"FROM {self.temp} i LEFT JOIN {self.table} s ON s.email = i.email WHERE s.id IS NULL"
        )
        cursor.execute(
            f"INSERT INTO {self.changes} (new_email, gone_id) SELECT NULL, s.id "
            f"FROM {self.table} s LEFT JOIN {self.temp} i ON i.email = s.email "
            f"WHERE i.email IS NULL"
        )
        cursor.execute(f"CREATE INDEX {CHANGES_TABLE}_gone ON {self.changes} (gone_id)")

    def _insert_new(self, cursor: Any, now: dt.datetime) -> int:
        cursor.execute(
            f"INSERT INTO {self.table} (email, source, first_seen, reason) "
            f"SELECT DISTINCT c.new_email, %s, %s, %s FROM {self.changes} c "
            f"WHERE c.new_email IS NOT NULL ON CONFLICT (email) DO NOTHING",
            ["meisa", now, ""],
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

    def _mark_local(self, cursor: Any, as_of: dt.datetime) -> None:
        # Local rows are few: record on each whether Meisa lists it too, so deleting it
        # in the admin can hand it over to Meisa instead of making it sendable.
        cursor.execute(
            f"UPDATE {self.table} SET last_confirmed = CASE WHEN EXISTS "
            f"(SELECT 1 FROM {self.temp} i WHERE i.email = {self.table}.email) "
            f"THEN %s ELSE NULL END WHERE source = %s",
            [as_of, "local"],
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
        # Re-checked per row at write time, so a concurrent report (a fresh stamp) wins.
        return (
            f"source = %s AND (reported_at IS NULL OR reported_at < %s) "
            f"AND id IN (SELECT c.gone_id FROM {self.changes} c WHERE c.gone_id IS NOT NULL)"
        )

    @staticmethod
    def _args(params: dict[str, Any]) -> list[Any]:
        return ["meisa", params["grace_cutoff"]]


def _key_batches(emails: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(emails), LOAD_BATCH):
        keys = normalize_many(list(emails[start : start + LOAD_BATCH]))
        unusable = sum(1 for key in keys if not 0 < len(key) <= MAX_KEY_LENGTH)
        if unusable:
            # Empty or longer than any deliverable address (and than the column): one
            # such entry must not block every refresh, and can't match a real recipient.
            logger.warning("Skipped %d unusable entries of Meisa's list", unusable)
            keys = [key for key in keys if 0 < len(key) <= MAX_KEY_LENGTH]
        yield keys


def _lines(batch: list[str]) -> str:
    """``batch`` as COPY text-format lines, escaping only when a key needs it."""
    text = "\n".join(batch)
    if "\\" in text or "\t" in text or "\r" in text or text.count("\n") != len(batch) - 1:
        text = "\n".join(key.translate(_COPY_ESCAPES) for key in batch)
    return text + "\n"
