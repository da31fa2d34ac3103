"""Bring up the benchmark environment: Django, our own database, the Celery app."""

from __future__ import annotations

import os

import django


def setup(*, database: str = "postgres", enabled: bool = True, fresh: bool = False) -> None:
    """Configure Django on ``benchmarks.settings``, create the database and migrate it.

    ``database`` is ``postgres`` (the default, ``meisa_bench``), ``mariadb`` (also
    ``meisa_bench``, on 127.0.0.1:3306) or ``sqlite``. ``fresh`` drops the server's
    database first (each benchmark's parent does, so a regenerated
    migration never meets a stale schema; its children reuse what it built). Must be
    called before any model import.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["MEISA_BENCH_DB"] = database
    os.environ["MEISA_BENCH_ENABLED"] = "1" if enabled else "0"
    if database == "postgres":
        create_postgres_database(fresh=fresh)
    if database == "mariadb":
        create_mariadb_database(fresh=fresh)
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


def label(database: str) -> str:
    """The database's name as the tables print it."""
    return {"postgres": "PostgreSQL", "mariadb": "MariaDB", "sqlite": "SQLite"}[database]


def mariadb_options(database: str | None = None) -> dict[str, object]:
    """MySQLdb ``connect()`` arguments for the benchmark MariaDB server (env overridable)."""
    options: dict[str, object] = {
        "host": os.environ.get("MEISA_BENCH_MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MEISA_BENCH_MYSQL_PORT", "3306")),
        "user": os.environ.get("MEISA_BENCH_MYSQL_USER", "root"),
        "password": os.environ.get("MEISA_BENCH_MYSQL_PASSWORD", ""),
        "charset": "utf8mb4",
    }
    if database:
        options["database"] = database
    return options


def mariadb_name() -> str:
    """The benchmark database's name on MariaDB."""
    return os.environ.get("MEISA_BENCH_MYSQL_NAME", "meisa_bench")


def create_mariadb_database(*, fresh: bool = False) -> None:
    """Create ``MEISA_BENCH_MYSQL_NAME`` (``meisa_bench``) on MariaDB if needed (or ``fresh``)."""
    import MySQLdb  # type: ignore[import-untyped]

    name = mariadb_name()
    conn = MySQLdb.connect(**mariadb_options())
    try:
        cursor = conn.cursor()
        if fresh:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def postgres_dsn(dbname: str | None = None) -> str:
    """A libpq DSN for the benchmark PostgreSQL server (env overridable)."""
    name = dbname or os.environ.get("MEISA_BENCH_PG_NAME", "meisa_bench")
    host = os.environ.get("MEISA_BENCH_PG_HOST", "127.0.0.1")
    port = os.environ.get("MEISA_BENCH_PG_PORT", "5432")
    user = os.environ.get("MEISA_BENCH_PG_USER", "postgres")
    return f"host={host} port={port} user={user} dbname={name}"


def truncate(*tables: str) -> None:
    """Empty tables (PostgreSQL: TRUNCATE ... CASCADE; MariaDB: TRUNCATE without foreign
    key checks; SQLite: DELETE)."""
    from django.db import connection

    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {qn(table)} RESTART IDENTITY CASCADE")
            elif connection.vendor == "mysql":
                cursor.execute(f"TRUNCATE TABLE {qn(table)}")
            else:
                cursor.execute(f"DELETE FROM {qn(table)}")
        if connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")


def vacuum_analyze(*tables: str) -> None:
    """Refresh planner statistics after a bulk load (PostgreSQL only), as ops would."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f'VACUUM ANALYZE "{table}"')
            elif connection.vendor == "mysql":
                cursor.execute(f"ANALYZE TABLE `{table}`")
                cursor.fetchall()
