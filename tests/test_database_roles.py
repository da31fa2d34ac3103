"""The DML-only role mode really runs as a role that can't change the schema."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from tests.db_roles import ROLE, role_mode

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not role_mode() or connection.vendor == "sqlite",
        reason="needs MEISA_TEST_DB_ROLE on PostgreSQL or MariaDB (CI's role passes run it)",
    ),
]

CURRENT_USER = {"postgresql": "SELECT current_user", "mysql": "SELECT CURRENT_USER()"}


def test_the_connection_is_the_role():
    with connection.cursor() as cursor:
        cursor.execute(CURRENT_USER[connection.vendor])
        user = cursor.fetchone()[0]
    assert user.split("@")[0] == ROLE


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE meisa_role_probe (id integer)",
        "CREATE TEMPORARY TABLE meisa_role_probe (id integer)",
        "ALTER TABLE django_meisa_suppressedemail ADD COLUMN probe integer",
    ],
)
def test_the_role_may_not_run_ddl(statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
