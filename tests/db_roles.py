"""Run the suite as a DML-only role: migrations as the owner, every test as the role.

``MEISA_TEST_DB_ROLE=<name>`` (with ``MEISA_TEST_DATABASE=postgres`` or ``mariadb``) turns
it on. pytest-django creates and migrates the test database as the configured owner; this
fixture then grants the role SELECT, INSERT, UPDATE and DELETE on every table (and the
sequences' nextval on PostgreSQL), takes away everyone's right to create objects, even
temporary tables, and reconnects as the role. The owner drops the database at the end.
The role is created when missing (the owner must be allowed to: locally it is the
superuser; CI creates it beforehand in .ci/run).
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from typing import Any

import pytest

ROLE = os.environ.get("MEISA_TEST_DB_ROLE", "")
PASSWORD = os.environ.get("MEISA_TEST_DB_ROLE_PASSWORD", "meisa-dml-only")
DML = "SELECT, INSERT, UPDATE, DELETE"


def role_mode() -> bool:
    """True when the suite runs as a DML-only role."""
    return bool(ROLE)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, then (in role mode) connected as the DML-only role."""
    from django.db import connections

    connection = connections["default"]
    if not ROLE or connection.vendor == "sqlite":
        yield
        return
    owner = (connection.settings_dict["USER"], connection.settings_dict.get("PASSWORD", ""))
    with django_db_blocker.unblock():
        GRANTS[connection.vendor](connection)
        _reconnect(connection, ROLE, PASSWORD)
        _flush_with_delete(connection)
    yield
    with django_db_blocker.unblock():
        _reconnect(connection, *owner)


def _grant_postgresql(connection: Any) -> None:
    qn = connection.ops.quote_name
    name, role = qn(connection.settings_dict["NAME"]), qn(ROLE)
    with connection.cursor() as cursor:
        # Concurrent xdist workers may both create it: either error means it exists.
        cursor.execute(
            f"DO $$ BEGIN CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        for statement in (
            f"REVOKE CREATE, TEMPORARY ON DATABASE {name} FROM PUBLIC",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {name} TO {role}",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            cursor.execute(statement)


def _grant_mysql(connection: Any) -> None:
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", [ROLE, PASSWORD])
        # Not even CREATE TEMPORARY TABLES: a typical application user's grant.
        cursor.execute(f"GRANT {DML} ON {name}.* TO %s@'%%'", [ROLE])


GRANTS = {"postgresql": _grant_postgresql, "mysql": _grant_mysql}


def _reconnect(connection: Any, user: str, password: str) -> None:
    connection.close()
    connection.settings_dict["USER"] = user
    connection.settings_dict["PASSWORD"] = password


def _flush_with_delete(connection: Any) -> None:
    # The harness empties tables between transactional tests with TRUNCATE on
    # PostgreSQL, which a DML-only role may not run; DELETE does the same here (the
    # foreign keys are deferred to the end of flush's transaction).
    if connection.vendor != "postgresql":
        return

    def sql_flush(ops: Any, style: Any, tables: list[str], **_options: Any) -> list[str]:
        return [f"DELETE FROM {ops.quote_name(table)};" for table in tables]

    connection.ops.sql_flush = types.MethodType(sql_flush, connection.ops)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """With ``MEISA_TEST_DB_TESTS_ONLY=1``, keep only the tests that use a database.

    CI's database corners set it: a test that can't touch the database (pytest-django
    blocks it) proves nothing more on PostgreSQL than on SQLite, where it already runs.
    """
    if os.environ.get("MEISA_TEST_DB_TESTS_ONLY") != "1":
        return
    kept = [item for item in items if _uses_database(item)]
    deselected = [item for item in items if not _uses_database(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _uses_database(item: Any) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(
        fixtures & {"db", "transactional_db", "django_db_reset_sequences", "live_server"}
    )
