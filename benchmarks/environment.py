"""Bring up the benchmark environment: Django, our own database, the Celery app."""

from __future__ import annotations

import os

import django


def setup(*, database: str = "postgres", enabled: bool = True, fresh: bool = False) -> None:
    """Configure Django on ``benchmarks.settings``, create the database and migrate it.

    ``database`` is ``postgres`` (the default, ``meisa_bench``) or ``sqlite``. ``fresh``
    drops the PostgreSQL database first (each benchmark's parent does, so a regenerated
    migration never meets a stale schema; its children reuse what it built). Must be
    called before any model import.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["MEISA_BENCH_DB"] = database
    os.environ["MEISA_BENCH_ENABLED"] = "1" if enabled else "0"
    if database == "postgres":
        create_postgres_database(fresh=fresh)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def create_postgres_database(*, fresh: bool = False) -> None:
    """Create ``MEISA_BENCH_PG_NAME`` (``meisa_bench``) if it does not exist (or ``fresh``)."""
    import psycopg

    name = os.environ.get("MEISA_BENCH_PG_NAME", "meisa_bench")
    with psycopg.connect(postgres_dsn("postgres"), autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def postgres_dsn(dbname: str | None = None) -> str:
    """A libpq DSN for the benchmark PostgreSQL server (env overridable)."""
    name = dbname or os.environ.get("MEISA_BENCH_PG_NAME", "meisa_bench")
    host = os.environ.get("MEISA_BENCH_PG_HOST", "127.0.0.1")
    port = os.environ.get("MEISA_BENCH_PG_PORT", "5432")
    user = os.environ.get("MEISA_BENCH_PG_USER", "postgres")
    return f"host={host} port={port} user={user} dbname={name}"


def truncate(*tables: str) -> None:
    """Empty tables (PostgreSQL: TRUNCATE ... CASCADE; SQLite: DELETE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f'TRUNCATE "{table}" RESTART IDENTITY CASCADE')
            else:
                cursor.execute(f'DELETE FROM "{table}"')


def vacuum_analyze(*tables: str) -> None:
    """Refresh planner statistics after a bulk load (PostgreSQL only), as ops would."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM ANALYZE "{table}"')
