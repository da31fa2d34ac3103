"""meisa.E050/E051: unsupported database vendors and versions are named, not silent."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from django_meisa.checks import check_database_vendor, check_database_version


def test_the_suite_s_own_database_passes():
    assert check_database_vendor() == []


@pytest.mark.django_db
def test_the_real_server_version_passes():
    assert check_database_version(databases=["default"]) == []


@pytest.mark.parametrize("vendor", ["oracle", "microsoft", "cockroachdb"])
def test_an_unsupported_vendor_is_an_error_naming_what_is_supported(monkeypatch, vendor):
    monkeypatch.setattr(connection, "vendor", vendor)
    [error] = check_database_vendor()
    assert error.id == "meisa.E050"
    assert "'default'" in error.msg
    assert "PostgreSQL, MySQL 8.0+, MariaDB 10.11+ and SQLite" in error.hint


def test_the_vendor_check_runs_with_plain_check(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "oracle")
    with pytest.raises(SystemCheckError, match=r"meisa\.E050"):
        call_command("check")


@pytest.mark.parametrize(
    ("mariadb", "version", "ok"),
    [
        (True, (10, 6, 18), False),
        (True, (10, 11, 0), True),
        (True, (11, 4, 2), True),
        (False, (5, 7, 44), False),
        (False, (8, 0, 36), True),
    ],
)
def test_old_mysql_and_mariadb_servers_are_errors(monkeypatch, mariadb, version, ok):
    monkeypatch.setattr(connection, "vendor", "mysql")
    monkeypatch.setattr(connection, "mysql_is_mariadb", mariadb, raising=False)
    monkeypatch.setattr(connection, "mysql_version", version, raising=False)
    errors = check_database_version(databases=["default"])
    assert [e.id for e in errors] == ([] if ok else ["meisa.E051"])


def test_the_version_check_only_asks_the_databases_it_is_given(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "mysql")
    monkeypatch.setattr(connection, "mysql_is_mariadb", True, raising=False)
    monkeypatch.setattr(connection, "mysql_version", (10, 3, 0), raising=False)
    assert check_database_version(databases=None) == []
