"""The service guards: a missing MariaDB driver skips on a laptop and fails in CI."""

from __future__ import annotations

import importlib.util

import pytest

from tests import services


@pytest.fixture
def mariadb_up_without_driver(monkeypatch):
    monkeypatch.setattr(services, "reachable", lambda address, timeout=0.5: True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "MySQLdb" else real_find_spec(name, *a),
    )


def test_missing_mysqlclient_skips_with_how_to_get_it(monkeypatch, mariadb_up_without_driver):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="mysqlclient is not installed"):
        services.require_mariadb()


def test_missing_mysqlclient_fails_in_ci(monkeypatch, mariadb_up_without_driver):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        services.require_mariadb()


def test_missing_server_is_reported_before_the_driver(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(services, "reachable", lambda address, timeout=0.5: False)
    with pytest.raises(pytest.skip.Exception, match="MariaDB is not reachable"):
        services.require_mariadb()
