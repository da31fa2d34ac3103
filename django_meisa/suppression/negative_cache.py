"""Negative cache for filtering: a per-process Bloom filter of the mirror's keys.

Most recipients are not suppressed, so most lookups find nothing. The filter answers
"certainly not suppressed" without the database; only possible hits are looked up.
It is valid only under the ``SuppressionGeneration`` token it was built under: every
batch reads the token first (one primary-key query), and every writer of
``SuppressedEmail`` replaces the token in its own transaction (``bump_generation``).
A stale, missing or still-building filter means "ask the database for every key",
so the cache can cost a query but never let a suppressed address through.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import IntegrityError, connections, models, transaction
from django.db.models.signals import post_delete, post_save

from django_meisa import conf
from django_meisa.models import SuppressedEmail, SuppressionGeneration

logger = logging.getLogger("django_meisa.suppression.negative_cache")

#: Filter bits per key: with two probes, about 0.4% false positives.
BITS_PER_KEY = 32
MIN_BITS = 1 << 16


def bump_generation(using: str) -> None:
    """Replace the generation token: call it in the transaction of every mirror write.

    One UPDATE of the one row (an INSERT the first time). Every process's negative
    cache is stale from this transaction's commit on; a rollback undoes the bump too.
    """
    token = secrets.randbits(62)
    rows = SuppressionGeneration.objects.using(using)
    if rows.filter(pk=SuppressionGeneration.SINGLETON_PK).update(token=token):
        return
    try:
        with transaction.atomic(using=using):
            rows.create(pk=SuppressionGeneration.SINGLETON_PK, token=token)
    except IntegrityError:  # created concurrently: replace that token instead
        rows.filter(pk=SuppressionGeneration.SINGLETON_PK).update(token=token)


def current_generation(using: str) -> int | None:
    """The current token, or None when no write ever set one (no cache then).

    Plain SQL on a primary key: read before every filtered batch, so it must cost one
    round trip and nothing else (the ORM's query building cost as much again).
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(connection), [SuppressionGeneration.SINGLETON_PK])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _token_sql(connection: Any) -> str:
    qn = connection.ops.quote_name
    meta = SuppressionGeneration._meta
    token, pk = meta.get_field("token"), meta.pk
    assert isinstance(token, models.Field)
    assert pk is not None
    # Only quoted identifiers from the model's metadata are formatted in.
    return f"SELECT {qn(token.column)} FROM {qn(meta.db_table)} WHERE {qn(pk.column)} = %s"  # noqa: S608


def connect_receivers() -> None:
    """Bump on every ORM save and delete of a ``SuppressedEmail`` row (a safety net).

    The package's own writers call ``bump_generation`` themselves (bulk statements send
    no signals); this covers a site's code, a data migration or a test writing rows
    through the ORM one by one. Called once from the app's ``ready()``.
    """
    post_save.connect(_written, sender=SuppressedEmail, dispatch_uid="meisa_generation_save")
    post_delete.connect(_written, sender=SuppressedEmail, dispatch_uid="meisa_generation_del")


def _written(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    bump_generation(using)


def checked_lookup(
    keys: Sequence[str], using: str, *, token: bool = True
) -> tuple[set[str], int | None]:
    """The members of ``keys`` in the mirror and (with ``token``) the generation token,
    read by one statement, so both come from the same snapshot.

    The one statement that reads the mirror by key (``lookup.suppressed_keys`` calls it
    without the token): an array parameter on PostgreSQL (half the time of thousands of
    ``IN`` placeholders), raw ``IN`` elsewhere (the ORM's took three times the CPU).
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    email = SuppressedEmail._meta.get_field("email")
    assert isinstance(email, models.Field)
    table, column = qn(SuppressedEmail._meta.db_table), qn(str(email.column))
    parts: list[str] = []
    params: list[Any] = []
    if keys:
        # Only quoted identifiers from the models' metadata are formatted in.
        if connection.vendor == "postgresql":
            parts.append(f"SELECT {column}, NULL FROM {table} WHERE {column} = ANY(%s)")  # noqa: S608
            params.append(list(keys))
        else:
            marks = ", ".join(["%s"] * len(keys))
            parts.append(f"SELECT {column}, NULL FROM {table} WHERE {column} IN ({marks})")  # noqa: S608
            params.extend(keys)
    if token:
        parts.append(_token_sql(connection).replace("SELECT ", "SELECT NULL, ", 1))
        params.append(SuppressionGeneration.SINGLETON_PK)
    if not parts:
        return set(), None
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    found = {row[0] for row in rows if row[0] is not None}
    tokens = [int(row[1]) for row in rows if row[1] is not None]
    return found, (tokens[0] if tokens else None)


class KeyFilter:
    """A Bloom filter of normalized keys: two probes from Python's own string hash.

    ``hash()`` is salted per process, which is fine: the filter never leaves it.
    """

    def __init__(self, token: int, expected: int) -> None:
        size = max(MIN_BITS, 1 << (expected * BITS_PER_KEY - 1).bit_length())  # a power of 2
        self.token = token
        self.mask = size - 1
        self.bits = bytearray(size >> 3)

    def add_all(self, keys: Iterable[str]) -> None:
        """Set both probe bits of every key."""
        bits, mask = self.bits, self.mask
        for key in keys:
            h = hash(key)
            a, b = h & mask, (h >> 32) & mask
            bits[a >> 3] |= 1 << (a & 7)
            bits[b >> 3] |= 1 << (b & 7)

    def possible(self, keys: Sequence[str]) -> list[str]:
        """The keys that may be in the mirror (all those that are, and a few others)."""
        bits, mask = self.bits, self.mask
        found = []
        for key in keys:
            h = hash(key)
            a, b = h & mask, (h >> 32) & mask
            if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1:
                found.append(key)
        return found

    @property
    def size_bytes(self) -> int:
        """Memory the bit array takes."""
        return len(self.bits)


#: Keys read per query while building: bounds the build's memory on every driver
#: (MySQLdb and SQLite's cursors hold a whole result in memory).
PAGE = 20000


def all_keys(using: str) -> Iterator[str]:
    """Every key of the mirror, a page at a time in index order (keyset pagination).

    A row written after the token was read may be missed, but its write replaced the
    token, so the filter being built is stale before it is installed: never wrong.
    """
    rows = SuppressedEmail.objects.using(using).order_by("email").values_list("email", flat=True)
    page = list(rows[:PAGE])
    while page:
        yield from page
        page = list(rows.filter(email__gt=page[-1])[:PAGE]) if len(page) == PAGE else []


class NegativeCache:
    """This process's filters, one per database alias, and their background rebuilds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.filters: dict[str, KeyFilter] = {}
        self.building: set[str] = set()

    def lookup(self, keys: Sequence[str], using: str, batch: int) -> set[str] | None:
        """The suppressed members of ``keys`` via the filter, or None to use the plain path.

        Only the possible hits are looked up, and the first query also reads the
        generation token in the same statement (one snapshot): if the token is not the
        filter's, the answer is thrown away and None sends the caller to the plain
        lookup of every key. So the common case costs one query per batch of possible
        hits (at least one, for the token), the rare stale case one more.
        """
        if not conf.get_setting("SUPPRESSION_NEGATIVE_CACHE"):
            return None
        current = self.filters.get(using)
        if current is None:
            self.schedule_rebuild(using)
            return None
        possible = current.possible(keys)
        found, token = checked_lookup(possible[:batch], using)
        if token != current.token:
            self.filters.pop(using, None)
            self.schedule_rebuild(using)
            return None
        for start in range(batch, len(possible), batch):
            found.update(checked_lookup(possible[start : start + batch], using, token=False)[0])
        return found

    def schedule_rebuild(self, using: str) -> None:
        """Build a fresh filter in a background thread (one at a time per alias)."""
        with self.lock:
            if using in self.building:
                return
            self.building.add(using)
        thread = threading.Thread(
            target=self.rebuild_in_thread, args=(using,), name="meisa-negative-cache", daemon=True
        )
        thread.start()

    def rebuild_in_thread(self, using: str) -> None:
        """Thread body: rebuild, log a failure (the DB path stays), close the connection."""
        try:
            self.rebuild(using)
        except Exception:
            logger.exception("Could not build the suppression negative cache; using the DB")
        finally:
            connections[using].close()
            with self.lock:
                self.building.discard(using)

    def rebuild(self, using: str) -> KeyFilter | None:
        """Read the token, then every key, in one transaction; install the filter.

        The token is read first, so the keys read after it include every write that
        committed before it; a later write changes the token and retires the filter.
        """
        with transaction.atomic(using=using):
            token = current_generation(using)
            if token is None:
                return None
            built = KeyFilter(token, SuppressedEmail.objects.using(using).count())
            built.add_all(all_keys(using))
        self.filters[using] = built
        return built

    def clear(self) -> None:
        """Forget every filter (tests; a process that wants its memory back)."""
        self.filters.clear()


cache = NegativeCache()
