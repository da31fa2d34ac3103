"""Real services for the tests that need them: skip locally when absent, fail in CI.

CI sets ``CI=true``; there a missing PostgreSQL, Redis or RabbitMQ is a failure, never a
silent skip. On a laptop without them the tests skip with a reason that says what is
missing and how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import socket

import pytest

POSTGRES = ("127.0.0.1", int(os.environ.get("MEISA_TEST_PG_PORT", "5432")))
MARIADB = ("127.0.0.1", int(os.environ.get("MEISA_TEST_MYSQL_PORT", "3306")))
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where services are mandatory."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(address: tuple[str, int], timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``address`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, address: tuple[str, int]) -> None:
    """Skip (locally) or fail (in CI) unless the service at ``address`` answers."""
    if not reachable(address):
        missing(f"{name} is not reachable on {address[0]}:{address[1]}", "start it")


def missing(message: str, remedy: str) -> None:
    """Fail in CI, skip elsewhere: ``message`` says what is missing, ``remedy`` what to do."""
    if in_ci():
        pytest.fail(f"{message}, and CI=true requires it.", pytrace=False)
    pytest.skip(f"{message}; {remedy} to run this test (CI runs it).")


def require_postgres() -> None:
    """Need PostgreSQL on 127.0.0.1:5432 (trust auth)."""
    require("PostgreSQL", POSTGRES)


def require_mariadb() -> None:
    """Need MariaDB (or MySQL) on 127.0.0.1:3306 (root, empty password), and mysqlclient."""
    require("MariaDB", MARIADB)
    if importlib.util.find_spec("MySQLdb") is None:
        missing(
            "mysqlclient is not installed (the mariadb extra; it compiles against "
            "libmariadb-dev and pkg-config)",
            "install them and the extra",
        )


def require_redis() -> None:
    """Need Redis on 127.0.0.1:6379."""
    require("Redis", REDIS)


def require_rabbitmq() -> None:
    """Need RabbitMQ on 127.0.0.1:5672 (guest/guest)."""
    require("RabbitMQ", RABBITMQ)
