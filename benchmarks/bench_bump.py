"""The version bump alone on PostgreSQL: Django's client-side binding against a prepared
statement, side by side (``python -m benchmarks.bench_bump``).

Issue #16 asks whether psycopg 3's prepared statements pay for the bump. Django binds
parameters on the client unless a database sets ``OPTIONS={"server_side_binding":
True}``, so the request path's bump is parsed and planned on every save. This times the
very statement ``contacts.requests.bump_version`` sends, in its own transaction each
time, both ways in alternation; it informs the docs and sets no goal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from typing import Any

from benchmarks import environment

ROUNDS = 3


def bump_sql(connection: Any) -> str:
    """The statement ``bump_version`` sends on this database, read off a stand-in cursor."""
    from unittest import mock

    from django_meisa.contacts import requests

    cursor = mock.MagicMock()
    with mock.patch.object(connection, "cursor", return_value=cursor):
        requests.bump_version(0, created=False, using=connection.alias)
    return str(cursor.__enter__.return_value.execute.call_args.args[0])


def time_bumps(cursor: Any, sql: str, users: list[Any], count: int, prepare: bool | None) -> float:
    """Median seconds of ``count`` bumps, each committed on its own."""
    times = []
    for index in range(count):
        now = dt.datetime.now(dt.timezone.utc)
        params = [users[index % len(users)], False, False, now, now]
        started = time.perf_counter()
        if prepare:
            cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params)
        times.append(time.perf_counter() - started)
        cursor.connection.commit()
    return statistics.median(times)


def main() -> None:
    """Time the bump ``--count`` times a side, ``ROUNDS`` rounds, and print both medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="bumps per side per round")
    args = parser.parse_args()
    environment.setup(database="postgres", fresh=True)
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection

    from benchmarks.data import create_users

    create_users(200)
    users = list(get_user_model().objects.values_list("pk", flat=True))
    sql = bump_sql(connection)
    settings = connection.settings_dict
    raw = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
    )
    client, server = psycopg.ClientCursor(raw), raw.cursor()
    for round_ in range(ROUNDS):
        first = time_bumps(client, sql, users, args.count, prepare=None)
        second = time_bumps(server, sql, users, args.count, prepare=True)
        print(
            f"round {round_ + 1}: client-side binding {first * 1000:.3f} ms, "
            f"prepared {second * 1000:.3f} ms ({second / first:.2f}x)"
        )
    raw.close()


if __name__ == "__main__":
    main()
