"""Fixtures for the integration suite: real services and processes, each one reaped.

Every fixture that starts something stops it in its finalizer, whatever the test did.
Logs of every process land in the test's ``tmp_path`` and are printed when a wait fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.services import (
    LocalMeisa,
    RedisServer,
    SmtpSink,
    create_database,
    drop_database,
)
from tests.services import require_postgres, require_rabbitmq, require_redis


@pytest.fixture
def local_meisa(tmp_path: Path) -> Iterator[LocalMeisa]:
    """The local Meisa over real HTTP, in its own process."""
    meisa = LocalMeisa(tmp_path)
    yield meisa
    meisa.stop()


@pytest.fixture
def redis_broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (never the machine's shared one)."""
    require_redis()  # the machine's Redis proves redis-server is installed
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rabbitmq_available() -> None:
    """Need the machine's RabbitMQ (each test gets a vhost of its own)."""
    require_rabbitmq()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The name of a fresh PostgreSQL database for this test session; dropped after."""
    require_postgres()
    name = create_database()
    yield name
    drop_database(name)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server collecting whatever is delivered to it."""
    sink = SmtpSink()
    yield sink
    sink.stop()
