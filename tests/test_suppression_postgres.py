"""Server-database guarantees: no window during a large refresh, and concurrent refreshes.

Run in the suite's PostgreSQL and MariaDB passes (``MEISA_TEST_DATABASE=postgres`` or
``mariadb``, as owner and as a DML-only role); on SQLite they skip with that reason (one
writer at a time: there is no concurrency to prove). CI runs every corner.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections

from django_meisa.client import UnsubscribedList
from django_meisa.models import SuppressedEmail
from django_meisa.suppression import refresh_suppressions, suppressed_among
from tests.services import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)

SIZE = 60_000
CHANGE = 1_000


@pytest.fixture(autouse=True)
def _server_database_only() -> None:
    if connection.vendor == "postgresql":
        require_postgres()
    if connection.vendor not in {"postgresql", "mysql"}:
        pytest.skip("server databases only: runs in the postgres and mariadb passes")


class ListClient:
    """A stand-in client serving a fixed list, optionally pausing inside the download."""

    def __init__(self, emails: list[str], *, pause: threading.Event | None = None) -> None:
        self.emails = emails
        self.pause = pause
        self.as_of = dt.datetime.now(dt.timezone.utc)

    def fetch_unsubscribed_emails(self) -> UnsubscribedList:
        if self.pause is not None:
            self.pause.wait(10)
        return UnsubscribedList(as_of=self.as_of, count=len(self.emails), emails=self.emails)


def listed(start: int, stop: int) -> list[str]:
    return [f"User{i}@Example.com" for i in range(start, stop)]


def in_thread(target: Any, results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_sender_never_sees_a_listed_address_as_sendable_during_a_refresh():
    old = listed(0, SIZE)
    assert refresh_suppressions(client=ListClient(old)).added == SIZE
    new = listed(CHANGE, SIZE + CHANGE)  # 1,000 unlisted, 1,000 listed
    still_listed = old[CHANGE :: SIZE // 500]  # a sample held before, during and after
    newcomers = new[-CHANGE::50]
    observations: list[tuple[int, int, float]] = []
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            seen = suppressed_among(still_listed + newcomers)
            held, arrived = len(seen & set(still_listed)), len(seen & set(newcomers))
            observations.append((held, arrived, time.monotonic()))

    results: list[Any] = []
    checker = in_thread(sender, results)
    time.sleep(0.05)
    started = time.monotonic()
    result = refresh_suppressions(client=ListClient(new))
    finished = time.monotonic()
    time.sleep(0.05)
    stop.set()
    checker.join(30)
    assert (result.added, result.removed) == (CHANGE, CHANGE)
    during = [o for o in observations if started < o[2] < finished]
    assert len(during) > 5, "the sender must have checked while the refresh ran"
    # Every listed address was suppressed at every instant...
    assert {held for held, _, _ in observations} == {len(still_listed)}
    # ...and the newcomers appeared all at once (one transaction), never piecemeal.
    assert {arrived for _, arrived, _ in observations} <= {0, len(newcomers)}


def test_two_refreshes_at_once_apply_one_and_skip_the_other():
    refresh_suppressions(client=ListClient(listed(0, 100)))
    gate = threading.Event()
    results: list[Any] = []
    slow = in_thread(
        lambda: refresh_suppressions(client=ListClient(listed(0, 150), pause=gate)), results
    )
    time.sleep(0.2)  # the first run holds the lease, paused inside its download
    second = refresh_suppressions(client=ListClient(listed(0, 120)))
    gate.set()
    slow.join(30)
    assert second.skipped
    assert results[0].added == 50
    assert SuppressedEmail.objects.count() == 150


def test_an_expired_lease_still_serializes_on_the_state_row_lock():
    # Two runs whose leases overlap (a stalled worker outlived its lease): the row lock
    # makes them apply one after the other, and the older as_of is refused.
    from django.test import override_settings

    refresh_suppressions(client=ListClient(listed(0, 10)))
    older = ListClient(listed(0, 20))
    newer = ListClient(listed(0, 30))
    assert older.as_of < newer.as_of
    with override_settings(MEISA={"API_KEY": "k", "SUPPRESSION_LOCK_TIMEOUT": 0}):
        first = refresh_suppressions(client=newer)
        second = refresh_suppressions(client=older)
    assert first.added == 20
    assert "older" in (second.error or "")
    assert SuppressedEmail.objects.count() == 30


def test_copy_handles_awkward_characters():
    # Tabs and backslashes survive COPY inside quoted local parts (valid addresses);
    # a raw newline is no address at all: rejected, never stored (#11).
    awkward = ['"tab\there"@x.com', '"back\\\\slash"@x.com', "new\nline@x.com", "ünï@bücher.de"]
    result = refresh_suppressions(client=ListClient(awkward))
    assert (result.added, result.rejected) == (3, 1)
    stored = set(SuppressedEmail.objects.values_list("email", flat=True))
    assert stored == {'"tab\there"@x.com', '"back\\\\slash"@x.com', "ünï@xn--bcher-kva.de"}


def test_a_first_load_that_may_not_alter_the_table_still_loads_everything(monkeypatch):
    # A DML-only role can't drop the unique index: the ALTER fails inside the savepoint
    # and the same rows go in with the index in place (the -dml corners run it for real).
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's first load is the one that tries DDL")
    from django_meisa.suppression.apply_store import PostgresKeyStore

    def refused(store, keys):
        store.cursor.execute("ALTER TABLE django_meisa_suppressedemail DROP CONSTRAINT nope")

    indexed_loads: list[int] = []
    copy_indexed = PostgresKeyStore._copy_indexed

    def spied(store, keys):
        indexed_loads.append(len(keys))
        copy_indexed(store, keys)

    monkeypatch.setattr(PostgresKeyStore, "_copy_unindexed", refused)
    monkeypatch.setattr(PostgresKeyStore, "_copy_indexed", spied)
    result = refresh_suppressions(client=ListClient(listed(0, 5_000)))
    assert (result.error, result.added) == (None, 5_000)
    assert indexed_loads == [5_000]  # the fallback loaded them, not the general path
    assert SuppressedEmail.objects.count() == 5_000
    assert not refresh_suppressions(client=ListClient(listed(0, 5_000))).added
