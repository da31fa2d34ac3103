"""Shared fixtures for django-meisa's own tests."""

from __future__ import annotations

import threading

import pytest

# The memory-transport Celery app becomes the default one, so no test ever publishes
# to a real broker by accident.
import tests.celery_app  # noqa: F401
from tests.db_roles import (  # noqa: F401 - the DML-only role mode, database-only runs
    django_db_setup,
    pytest_collection_modifyitems,
)

pytest_plugins = ["django_meisa.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Put the SQLite test database in a file instead of shared-cache memory.

    Worker threads (the real Celery worker in the sync tests) writing to a shared-cache
    in-memory database fail at once with "database table is locked"; a file database
    waits on its busy timeout, like a site's SQLite would.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("sqlite") / "django_meisa_test.sqlite3"
        )
        # Throwaway data: skip fsync. WAL lets readers and a writer work at once.
        database.setdefault("OPTIONS", {})["init_command"] = (
            "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;"
        )


@pytest.fixture(scope="module")
def celery_app_for_tests():
    """The test Celery app (memory transport, from ``CELERY_*`` Django settings)."""
    from tests.celery_app import app

    app.set_current()
    return app


@pytest.fixture(scope="module")
def celery_worker_threads(celery_app_for_tests, django_db_blocker):
    """A REAL in-process Celery worker: 2 threads consuming the memory broker.

    Module-scoped (starting a worker takes a moment). Tests using it also need
    ``transactional_db`` so that the worker threads see committed rows.
    """
    from celery.contrib.testing.worker import start_worker

    # Forget messages published by earlier tests: their pks may now name other users.
    with celery_app_for_tests.connection_for_write() as connection:
        connection.default_channel.queue_purge("celery")
    with (
        django_db_blocker.unblock(),
        start_worker(
            celery_app_for_tests,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            shutdown_timeout=10,
            loglevel="WARNING",
        ) as worker,
    ):
        yield worker


@pytest.fixture(autouse=True)
def _forget_suppression_freshness():
    """Each test reads the mirror's state afresh (the backend caches it per process), and
    its reports and refresh requests are not deduplicated against an earlier test's."""
    from django_meisa.suppression.freshness import forget_freshness

    forget_freshness()
    yield
    forget_freshness()


@pytest.fixture
def loaded_mirror(db):
    """A suppression mirror that a refresh loaded just now (the backend trusts it)."""
    from django.utils import timezone

    from django_meisa.models import SuppressionRefreshState
    from django_meisa.suppression.freshness import mirror_freshness

    state, _created = SuppressionRefreshState.objects.update_or_create(
        pk=SuppressionRefreshState.SINGLETON_PK, defaults={"last_success_at": timezone.now()}
    )
    mirror_freshness()  # read once, as a running process would have: sends query nothing more
    return state


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Let the negative cache's background rebuilds finish before fixtures are torn down.

    A rebuild left running holds read locks on the mirror's tables; a transactional
    test's flush (TRUNCATE) then deadlocks with it on PostgreSQL and the next tests find
    the rows it couldn't delete. Runs before the fixtures' finalizers (tryfirst).
    """
    for thread in threading.enumerate():
        if thread.name == "meisa-negative-cache":
            thread.join(timeout=30)
