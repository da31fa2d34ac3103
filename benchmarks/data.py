"""Data generation: users and address lists, written in bulk (COPY on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

#: Same password hash for everyone: hashing is not what we measure.
PASSWORD = "!benchmark-user"  # noqa: S105  (unusable: force_login needs none)
FIRST_NAMES = ["Sarah", "Omar", "Mei", "Lukas", "Ana", "Kwame", "Priya", "Jonas"]
LAST_NAMES = ["Khan", "Silva", "Novak", "Okafor", "Tanaka", "Berg", "Moreau", "Ali"]


def user_email(i: int) -> str:
    """The address of generated user ``i``."""
    return f"user{i:07d}@example.com"


def listed_email(i: int) -> str:
    """Address ``i`` of a generated do-not-email list (mixed domains, some +tags)."""
    domain = ("example.com", "mail.example.org", "corp.example.net")[i % 3]
    tag = "+news" if i % 7 == 0 else ""
    return f"person{i:08d}{tag}@{domain}"


def address_list(n: int, *, start: int = 0) -> list[str]:
    """``n`` distinct listed addresses, ids ``start .. start+n-1``, in shuffled order."""
    emails = [listed_email(i) for i in range(start, start + n)]
    random.Random(n + start).shuffle(emails)
    return emails


def _user_rows(start: int, count: int) -> Iterator[tuple[object, ...]]:
    joined = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(start, start + count):
        yield (
            PASSWORD,
            joined + dt.timedelta(days=i % 365),
            False,
            f"user{i:07d}",
            FIRST_NAMES[i % len(FIRST_NAMES)],
            LAST_NAMES[i % len(LAST_NAMES)],
            user_email(i),
            False,
            True,
            joined + dt.timedelta(days=i % 365, minutes=i % 1440),
        )


USER_COLUMNS = (
    "password",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)


def create_users(count: int, *, start: int = 0) -> None:
    """Insert ``count`` users numbered from ``start`` (COPY on PostgreSQL, no signals)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    table = get_user_model()._meta.db_table
    if connection.vendor == "postgresql":
        copy_rows(table, USER_COLUMNS, _user_rows(start, count))
        return
    insert_rows(table, USER_COLUMNS, _user_rows(start, count))


def insert_rows(
    table: str, columns: tuple[str, ...], rows: Iterator[tuple[object, ...]], batch: int = 5000
) -> None:
    """Insert rows with ``executemany`` in batches (MySQLdb sends each as one multi-row
    INSERT); the loader for databases without COPY."""
    from django.db import connection

    qn = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) VALUES ({placeholders})"
    chunk: list[tuple[object, ...]] = []
    with connection.cursor() as cursor:
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch:
                cursor.executemany(sql, chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)


def copy_rows(table: str, columns: tuple[str, ...], rows: Iterator[tuple[object, ...]]) -> None:
    """Stream rows into a PostgreSQL table with ``COPY ... FROM STDIN``."""
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
