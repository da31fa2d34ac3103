"""The diff applier on every database: only the delta is written, an unchanged list
writes nothing, and any write to the mirror since the last refresh, or a row that waits
on time, defeats that skip."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_meisa.models import SuppressedEmail
from django_meisa.suppression.apply import Diff, DiffApplier, ShrinkGuard
from django_meisa.suppression.listing import list_fingerprint
from django_meisa.suppression.negative_cache import current_generation
from django_meisa.suppression.status import suppress_contact_status

pytestmark = pytest.mark.django_db

GUARD = ShrinkGuard(max_fraction=0.5, min_count=10, force=False)
WRITES = ("INSERT", "UPDATE", "DELETE")


def keys(start: int, stop: int) -> list[str]:
    return [f"user{i}@example.com" for i in range(start, stop)]


def apply(emails: list[str], previous: Diff | None = None, guard: ShrinkGuard = GUARD) -> Diff:
    """As the refresh does: the fingerprint first, the full diff when it doesn't match."""
    now = timezone.now()
    params: dict[str, Any] = {
        "now": now,
        "as_of": now,
        "previous_as_of": None,
        "grace_cutoff": now - dt.timedelta(hours=1),
        "fingerprint": list_fingerprint(emails),
    }
    with transaction.atomic():
        applier = DiffApplier("default")
        same = applier.unchanged(params["fingerprint"], previous.digest if previous else "")
        return same or applier.apply(set(emails), params, guard)


def stored() -> set[str]:
    return set(SuppressedEmail.objects.values_list("email", flat=True))


def test_a_refresh_writes_only_the_delta():
    apply(keys(0, 100))
    with CaptureQueriesContext(connection) as queries:
        diff = apply(keys(5, 105))
    assert (diff.added, diff.removed, diff.held, diff.confirmed) == (5, 5, 100, 95)
    assert stored() == set(keys(5, 105))
    written = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert len(written) <= 4, written  # one insert and one delete batch, at most


def test_an_unchanged_list_writes_nothing():
    first = apply(keys(0, 50))
    with CaptureQueriesContext(connection) as queries:
        again = apply(keys(0, 50), previous=first)
    assert again.unchanged
    assert again.digest == first.digest
    assert (again.loaded, again.confirmed, again.added, again.removed) == (50, 50, 0, 0)
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]


def test_a_write_bumps_the_generation_and_an_unchanged_list_does_not():
    first = apply(keys(0, 50))
    token = current_generation("default")
    assert token is not None
    apply(keys(0, 50), previous=first)
    assert current_generation("default") == token
    apply(keys(0, 51), previous=first)
    assert current_generation("default") != token


def test_the_digest_follows_the_entries_not_their_count():
    assert apply(keys(0, 50)).digest != apply(keys(1, 51)).digest


def test_the_fingerprint_is_of_the_raw_entries():
    # Entries with the same keys but spelled otherwise are another list: no skip.
    first = list_fingerprint(keys(0, 50))
    assert list_fingerprint([key.upper() for key in keys(0, 50)]) != first
    assert list_fingerprint(keys(0, 50)) == first


def test_a_diff_that_leaves_rows_waiting_on_time_records_no_digest():
    # A reported row's grace runs out: the same list applied later changes rows, so it
    # must not be skipped.
    suppress_contact_status("reported@example.com", "bounced")
    first = apply(keys(0, 50))
    assert not first.settled
    assert first.digest == ""
    assert not apply(keys(0, 50), previous=first).unchanged


@pytest.mark.parametrize(
    "tamper",
    [
        lambda: SuppressedEmail.objects.filter(email="user7@example.com").delete(),
        lambda: suppress_contact_status("reported@example.com", "bounced"),
        lambda: SuppressedEmail.objects.create(email="extra@example.com", source="meisa"),
    ],
    ids=["meisa-row-deleted", "row-reported", "meisa-row-added"],
)
def test_a_write_since_the_last_refresh_defeats_the_skip(tamper):
    # Through the package's writers and the ORM (which bump the generation token).
    first = apply(keys(0, 50))
    tamper()
    again = apply(keys(0, 50), previous=first)
    assert not again.unchanged
    assert "user7@example.com" in stored()


def test_an_unchanged_token_skips_without_scanning_the_table():
    first = apply(keys(0, 50))
    with CaptureQueriesContext(connection) as queries:
        again = apply(keys(0, 50), previous=first)
    assert again.unchanged
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_a_bumped_token_falls_back_to_checking_the_table(monkeypatch):
    from django_meisa.suppression.negative_cache import bump_generation

    first = apply(keys(0, 50))
    bump_generation("default")  # a write elsewhere: a local row, the admin, a status
    assert apply(keys(0, 50), previous=first).unchanged  # the table still matches
    assert len(first.digest) <= 64  # SuppressionRefreshState.list_digest


def test_withheld_deletions_record_no_digest():
    first = apply(keys(0, 50))
    shrunk = apply(keys(0, 10), previous=first)
    assert shrunk.withheld == 40
    assert shrunk.digest == ""
    assert not apply(keys(0, 10), previous=shrunk).unchanged


def test_a_local_row_is_never_turned_into_a_meisa_row():
    SuppressedEmail.objects.create(email="user3@example.com", source="local")
    diff = apply(keys(0, 10))
    assert diff.added == 9
    row = SuppressedEmail.objects.get(email="user3@example.com")
    assert row.source == "local"
    assert row.meisa_lists_too
    # The mark doesn't depend on the list's date: the same list may skip next time.
    assert diff.settled
    assert apply(keys(0, 10), previous=diff).unchanged


def test_keys_that_differ_only_in_accents_or_case_are_distinct_rows():
    # MySQL's default collations compare 'u' and 'ü' (and 'a' and 'A') as equal; the
    # column is binary there, so each key is its own row and matches only itself.
    diff = apply(["uni@example.com", "ünï@example.com", "Uni@example.com"])
    assert diff.added == 3
    assert SuppressedEmail.objects.filter(email="uni@example.com").count() == 1


def test_a_254_character_address_is_stored_and_found():
    long = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
    assert len(long) == 254
    apply([long])
    assert SuppressedEmail.objects.filter(email=long).exists()


def test_a_large_first_load_and_refresh_round_trip():
    assert apply(keys(0, 20_000)).added == 20_000
    diff = apply(keys(400, 20_400))
    assert (diff.added, diff.removed) == (400, 400)
    assert SuppressedEmail.objects.count() == 20_000


def test_an_unstorable_key_is_skipped_and_logged_once(caplog):
    # The first load and the general diff both drop unstorable keys; the second pass
    # found nothing new yet warned again (MariaDB and SQLite have no first-load path).
    overlong = "x" * 600 + "@example.com"
    caplog.set_level("WARNING", logger="django_meisa")
    diff = apply([*keys(0, 5), overlong])
    assert (diff.added, diff.skipped, diff.loaded) == (5, 1, 5)
    assert stored() == set(keys(0, 5))
    assert caplog.text.count("Skipped 1 unusable entries") == 1
