"""Fixtures for the integration suite: real services and processes, each one reaped.

Every fixture that starts something stops it in its finalizer, whatever the test did.
Each test gets its own PostgreSQL database (a copy of one migrated template), its own
local Meisa process and its own broker, so tests can't see each other's users or tasks.
Process logs land in the test's ``tmp_path`` and are printed when a wait fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.databases import create_database, drop_database, require_database
from tests.integration.services import (
    LocalMeisa,
    RedisServer,
    SmtpSink,
    delete_rabbitmq_vhost,
    rabbitmq_vhost,
)
from tests.integration.site import DjangoShell, Site, migrate, site_environment
from tests.services import require_rabbitmq, require_redis

SiteFactory = Callable[..., Site]


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
def rabbitmq_broker() -> Iterator[str]:
    """A broker URL for a fresh vhost on the machine's RabbitMQ; deleted after."""
    require_rabbitmq()
    vhost = rabbitmq_vhost()
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    delete_rabbitmq_vhost(vhost)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server collecting whatever is delivered to it."""
    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with the example site migrated, copied by each test (PostgreSQL, or
    MariaDB with ``MEISA_IT_DATABASE=mariadb``: tests/integration/databases.py)."""
    require_database()
    workdir = tmp_path_factory.mktemp("template")
    name = create_database("meisa_it_template")
    meisa = LocalMeisa(workdir)  # the settings want a Meisa URL; migrate never calls it
    try:
        migrate(site_environment(name, "memory://", meisa, None), workdir / "migrate.log")
    finally:
        meisa.stop()
    yield name
    drop_database(name)


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    """This test's own database: a copy of the migrated template; dropped after."""
    name = create_database(template=pg_template)
    yield name
    drop_database(name)


@pytest.fixture
def make_site(
    tmp_path: Path, pg_database: str, local_meisa: LocalMeisa, smtp_sink: SmtpSink
) -> Iterator[SiteFactory]:
    """``make_site(broker_url, **env)`` starts the site's Django shell; workers on demand."""
    sites: list[Site] = []

    def make(broker_url: str, **extra_env: str) -> Site:
        env = site_environment(pg_database, broker_url, local_meisa, smtp_sink, **extra_env)
        shell = DjangoShell(env, tmp_path / "shell.log")
        site = Site(env, tmp_path, local_meisa, smtp_sink, shell)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.stop()


@pytest.fixture
def site(make_site: SiteFactory, redis_broker: RedisServer) -> Site:
    """The example site over this test's own Redis broker (no worker started yet)."""
    return make_site(redis_broker.url)
