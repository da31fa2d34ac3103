"""The mirror's bulk reads and writes, one class per database vendor, DML only.

Every statement here needs SELECT, INSERT, UPDATE or DELETE and nothing more: no
temporary table, no ALTER. The one exception, PostgreSQL's first load, tries its DDL in a
savepoint and falls back to plain DML when the role may not run it.
"""

# ruff: noqa: S608 - identifiers are quoted model table/column names; values are parameters
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

from django_meisa.models import SuppressedEmail

UNIQUE_CONSTRAINT = "meisa_suppressed_email_uniq"  # SuppressedEmail.Meta.constraints
MEISA, LOCAL = "meisa", "local"  # SuppressedEmail.Source
READ_BATCH = 20_000
_first = itemgetter(0)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class Special:
    """The few rows that aren't plain listed ``meisa`` rows, read in one pass."""

    local: set[str] = field(default_factory=set)
    local_marked: set[str] = field(default_factory=set)  # local rows Meisa lists too
    flagged: set[str] = field(default_factory=set)  # meisa rows withheld or reported


class KeyStore:
    """Bulk statements on ``SuppressedEmail`` for any vendor (batched parameter lists)."""

    write_batch = 500  # SQLite before 3.32 allows 999 parameters per statement

    def __init__(self, connection: BaseDatabaseWrapper, cursor: Any) -> None:
        self.connection = connection
        self.cursor = cursor
        self.table = connection.ops.quote_name(SuppressedEmail._meta.db_table)

    @staticmethod
    def for_connection(connection: BaseDatabaseWrapper, cursor: Any) -> KeyStore:
        """The store suited to ``connection``'s vendor."""
        stores = {"postgresql": PostgresKeyStore, "mysql": MySQLKeyStore}
        return stores.get(connection.vendor, KeyStore)(connection, cursor)

    def any_rows(self) -> bool:
        """True when the mirror holds any row at all."""
        self.cursor.execute(f"SELECT 1 FROM {self.table} LIMIT 1")
        return self.cursor.fetchone() is not None

    def meisa_counts(self) -> tuple[int, int]:
        """``meisa`` rows without and with a withheld or reported stamp (one scan)."""
        self.cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN withheld_last_listed IS NOT NULL "
            f"OR reported_at IS NOT NULL THEN 1 ELSE 0 END), 0) "
            f"FROM {self.table} WHERE source = %s",
            [MEISA],
        )
        total, stamped = self.cursor.fetchone()
        return int(total) - int(stamped), int(stamped)

    def first_load(self, keys: set[str]) -> bool:
        """Fill the empty mirror with ``keys`` faster than the general path, if possible."""
        return False

    def special_rows(self) -> Special:
        """Local rows and the ``meisa`` rows that carry a withheld or reported stamp."""
        special = Special()
        self.cursor.execute(
            f"SELECT email, source, meisa_lists_too FROM {self.table} WHERE source <> %s "
            f"OR withheld_last_listed IS NOT NULL OR reported_at IS NOT NULL",
            [MEISA],
        )
        for email, source, marked in self.cursor.fetchall():
            if source != MEISA:
                special.local.add(email)
                if marked:
                    special.local_marked.add(email)
            else:
                special.flagged.add(email)
        return special

    def held_keys(self) -> Iterator[list[str]]:
        """Every ``meisa`` row's key, in batches (one read, nothing held on the server)."""
        self.cursor.execute(f"SELECT email FROM {self.table} WHERE source = %s", [MEISA])
        while rows := self.cursor.fetchmany(READ_BATCH):
            yield list(map(_first, rows))  # in C: a million rows

    def insert(self, keys: list[str], now: dt.datetime) -> int:
        """Insert ``keys`` as ``meisa`` rows, skipping any a concurrent writer added."""
        stamp = self.connection.ops.adapt_datetimefield_value(now)
        sql = (
            f"INSERT INTO {self.table} (email, source, first_seen, reason) "
            f"VALUES (%s, %s, %s, %s) ON CONFLICT (email) DO NOTHING"
        )
        added = 0
        for batch in self._batches(keys):
            self.cursor.executemany(sql, [(key, MEISA, stamp, "") for key in batch])
            added += max(0, self.cursor.rowcount)
        return added

    def update(self, assignments: str, where: str, keys: Iterable[str], args: list[Any]) -> int:
        """``UPDATE ... SET assignments WHERE where AND email IN keys``; rows changed."""
        changed = 0
        for batch in self._batches(sorted(keys)):
            self.cursor.execute(
                f"UPDATE {self.table} SET {assignments} WHERE {where} AND {self._in(batch)}",
                [*args, *self._params(batch)],
            )
            changed += max(0, self.cursor.rowcount)
        return changed

    def delete(self, where: str, keys: Iterable[str], args: list[Any]) -> int:
        """``DELETE ... WHERE where AND email IN keys``; rows deleted."""
        deleted = 0
        for batch in self._batches(sorted(keys)):
            self.cursor.execute(
                f"DELETE FROM {self.table} WHERE {where} AND {self._in(batch)}",
                [*args, *self._params(batch)],
            )
            deleted += max(0, self.cursor.rowcount)
        return deleted

    def count(self, where: str, keys: Iterable[str], args: list[Any]) -> int:
        """``COUNT(*) ... WHERE where AND email IN keys``."""
        total = 0
        for batch in self._batches(sorted(keys)):
            self.cursor.execute(
                f"SELECT COUNT(*) FROM {self.table} WHERE {where} AND {self._in(batch)}",
                [*args, *self._params(batch)],
            )
            total += int(self.cursor.fetchone()[0])
        return total

    def _in(self, batch: list[str]) -> str:
        return f"email IN ({', '.join(['%s'] * len(batch))})"

    def _params(self, batch: list[str]) -> list[Any]:
        return list(batch)

    def _batches(self, keys: list[str]) -> Iterator[list[str]]:
        for start in range(0, len(keys), self.write_batch):
            yield keys[start : start + self.write_batch]


class MySQLKeyStore(KeyStore):
    """MySQL 8 / MariaDB: streamed reads, multi-row INSERTs (mysqlclient batches them)."""

    write_batch = 5_000

    def held_keys(self) -> Iterator[list[str]]:
        # An unbuffered cursor: a million keys are never held twice (server result
        # buffer and Python rows) in the client.
        from MySQLdb.cursors import SSCursor  # type: ignore[import-untyped]

        raw = self.connection.connection.cursor(SSCursor)
        try:
            raw.execute(f"SELECT email FROM {self.table} WHERE source = %s", [MEISA])
            while rows := raw.fetchmany(READ_BATCH):
                yield list(map(_first, rows))  # in C: a million rows
        finally:
            raw.close()

    def insert(self, keys: list[str], now: dt.datetime) -> int:
        # IGNORE skips only a key a concurrent writer inserted meanwhile: the values are
        # validated keys (<= 512 characters, utf8mb4) and constants, which can't trip any
        # other error that IGNORE would hide. Its row count is the rows inserted, which
        # ON DUPLICATE KEY UPDATE's (under Django's FOUND_ROWS flag) is not.
        # The statement is built here, each key quoted by the driver's own literal(), as
        # executemany would, but with the three constant columns quoted once: executemany
        # formats all four of every row in Python: over half a million-row first load's CPU.
        raw = self.connection.connection
        stamp = self.connection.ops.adapt_datetimefield_value(now)
        constants = ", ".join(_literal(raw, value) for value in (MEISA, stamp, ""))
        head = f"INSERT IGNORE INTO {self.table} (email, source, first_seen, reason) VALUES "
        added = 0
        for batch in self._batches(keys):
            rows = ", ".join([f"({_literal(raw, key)}, {constants})" for key in batch])
            self.cursor.execute(head + rows)
            added += max(0, self.cursor.rowcount)
        return added


def _literal(raw: Any, value: Any) -> str:
    """``value`` as a quoted SQL string literal, escaped by MySQLdb for this connection."""
    return str(raw.literal(value), raw.encoding)


class PostgresKeyStore(KeyStore):
    """PostgreSQL: COPY for the first load, one array parameter per write instead of IN lists.

    The held keys are read with a plain SELECT: psycopg hands COPY TO STDOUT out one row
    at a time, which measured five times slower than fetching the same rows.
    """

    write_batch = 50_000

    def first_load(self, keys: set[str]) -> bool:
        # With the unique index dropped, COPY then one sorted index build beats a million
        # random index inserts. The ALTERs lock the table until commit, so senders wait
        # rather than read it half-filled. A role that doesn't own the table may not run
        # them: then COPY with the index in place, still one statement, DML only. A
        # duplicate (a concurrent writer) rolls back to the general path.
        if not hasattr(self.cursor.cursor, "copy"):  # psycopg2: the general path
            return False
        for attempt in (self._copy_unindexed, self._copy_indexed):
            self.cursor.execute("SAVEPOINT meisa_first_load")
            try:
                attempt(keys)
            except (DatabaseError, self.connection.Database.Error):  # type: ignore[attr-defined]
                self.cursor.execute("ROLLBACK TO SAVEPOINT meisa_first_load")
                continue
            self.cursor.execute("RELEASE SAVEPOINT meisa_first_load")
            return True
        return False

    def _copy_unindexed(self, keys: set[str]) -> None:
        unique = self.connection.ops.quote_name(UNIQUE_CONSTRAINT)
        self.cursor.execute(f"ALTER TABLE {self.table} DROP CONSTRAINT {unique}")
        self._copy_in(keys)
        self.cursor.execute(f"ALTER TABLE {self.table} ADD CONSTRAINT {unique} UNIQUE (email)")

    def _copy_indexed(self, keys: set[str]) -> None:
        self._copy_in(sorted(keys))  # in index order: appends instead of random inserts

    def _copy_in(self, keys: Iterable[str]) -> None:
        batch: list[str] = []
        with self.cursor.cursor.copy(f"COPY {self.table} (email) FROM STDIN") as copy:
            for key in keys:
                batch.append(key)
                if len(batch) == READ_BATCH:
                    copy.write(_copy_lines(batch))
                    batch = []
            if batch:
                copy.write(_copy_lines(batch))

    def insert(self, keys: list[str], now: dt.datetime) -> int:
        added = 0
        for batch in self._batches(keys):
            self.cursor.execute(
                f"INSERT INTO {self.table} (email, source, first_seen, reason) "
                f"SELECT unnest(%s::text[]), %s, %s, '' ON CONFLICT (email) DO NOTHING",
                [batch, MEISA, now],
            )
            added += max(0, self.cursor.rowcount)
        return added

    def _in(self, batch: list[str]) -> str:
        return "email = ANY(%s)"

    def _params(self, batch: list[str]) -> list[Any]:
        return [batch]  # one array parameter


def _copy_lines(batch: list[str]) -> str:
    """``batch`` as COPY text-format lines, escaping only when a key needs it."""
    text = "\n".join(batch)
    if "\\" in text or "\t" in text or "\r" in text or text.count("\n") != len(batch) - 1:
        text = "\n".join(key.translate(_COPY_ESCAPES) for key in batch)
    return text + "\n"
