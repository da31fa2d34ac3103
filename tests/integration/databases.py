"""The integration suite's database server: PostgreSQL, or MariaDB with MEISA_IT_DATABASE.

``MEISA_IT_DATABASE=mariadb`` runs the same flows against the local MariaDB
(127.0.0.1:3306, root). Each test gets its own database, copied from one migrated
template: PostgreSQL copies it with ``CREATE DATABASE ... TEMPLATE``; MariaDB, which has
no templates, table by table (``CREATE TABLE ... LIKE`` and ``INSERT ... SELECT``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.integration import services
from tests.services import require_mariadb, require_postgres

IT_DATABASE = os.environ.get("MEISA_IT_DATABASE", "postgres").lower()
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "charset": "utf8mb4"}


def mariadb() -> bool:
    """True when the integration suite runs on MariaDB."""
    return IT_DATABASE in {"mariadb", "mysql"}


def require_database() -> None:
    """Skip (locally) or fail (in CI) unless the suite's database server answers."""
    require_mariadb() if mariadb() else require_postgres()


def database_url(name: str) -> str:
    """The ``DATABASE_URL`` of database ``name`` for the example site's processes."""
    if mariadb():
        return f"mysql://root@127.0.0.1:3306/{name}"
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def create_database(prefix: str = "meisa_it", template: str | None = None) -> str:
    """Create a database with a unique name (a copy of ``template`` if given)."""
    if not mariadb():
        return services.create_database(prefix, template)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _mariadb() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        if template:
            _copy_tables(cursor, template, name)
    return name


def drop_database(name: str) -> None:
    """Drop a database made by ``create_database``."""
    if not mariadb():
        services.drop_database(name)
        return
    with _mariadb() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _copy_tables(cursor: Any, source: str, target: str) -> None:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        [source],
    )
    tables = [row[0] for row in cursor.fetchall()]
    cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
    for table in tables:
        cursor.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
        cursor.execute(f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`")


@contextmanager
def _mariadb() -> Iterator[Any]:
    """An autocommit root connection's cursor, closed after."""
    import MySQLdb

    connection = MySQLdb.connect(**MARIADB, autocommit=True)
    try:
        yield connection.cursor()
    finally:
        connection.close()
