"""The refresh: diff apply, failure modes, the shrink guard, the lock and the counts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import responses
from django.db import DatabaseError
from django.test import override_settings
from django.utils import timezone

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression import (
    is_suppressed,
    refresh_suppressions,
    suppress_contact_status,
    suppressed_among,
)
from django_meisa.suppression.addresses import canonical_key, canonical_keys
from django_meisa.suppression.apply import DiffApplier
from django_meisa.suppression.lock import acquire_lease, release_lease

pytestmark = pytest.mark.django_db(transaction=True)


def emails() -> set[str]:
    return set(SuppressedEmail.objects.values_list("email", flat=True))


def meisa_settings(**extra: object) -> override_settings:
    from django.conf import settings

    return override_settings(MEISA={**settings.MEISA, **extra})


def test_first_refresh_adds_every_listed_address_normalized(meisa_fake):
    meisa_fake.add_unsubscribed("Ada@Example.COM", "bob+news@bücher.de", " carl@x.org ")
    result = refresh_suppressions()
    assert result.ok
    assert (result.added, result.confirmed, result.removed, result.withheld) == (3, 0, 0, 0)
    assert emails() == {"ada@example.com", "bob+news@xn--bcher-kva.de", "carl@x.org"}
    assert set(SuppressedEmail.objects.values_list("source", flat=True)) == {"meisa"}


def test_diff_adds_confirms_removes_and_keeps_local_rows(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com", "b@x.com", "c@x.com")
    refresh_suppressions()
    SuppressedEmail.objects.create(email="local@x.com", source="local", reason="asked by phone")
    first_seen = SuppressedEmail.objects.get(email="a@x.com").first_seen
    meisa_fake.remove_unsubscribed("c@x.com")
    meisa_fake.add_unsubscribed("d@x.com")
    result = refresh_suppressions()
    assert (result.added, result.confirmed, result.removed, result.withheld) == (1, 2, 1, 0)
    assert emails() == {"a@x.com", "b@x.com", "d@x.com", "local@x.com"}
    assert SuppressedEmail.objects.get(email="a@x.com").first_seen == first_seen


def test_local_row_listed_by_meisa_stays_local_and_survives_unlisting(meisa_fake):
    SuppressedEmail.objects.create(email="both@x.com", source="local")
    meisa_fake.add_unsubscribed("both@x.com", "other@x.com")
    assert refresh_suppressions().added == 1
    row = SuppressedEmail.objects.get(email="both@x.com")
    assert row.source == "local"
    assert row.meisa_lists_too
    meisa_fake.remove_unsubscribed("both@x.com")
    assert refresh_suppressions().removed == 0
    row = SuppressedEmail.objects.get(email="both@x.com")
    assert (row.source, row.meisa_lists_too) == ("local", False)


def test_success_is_recorded_on_the_state_row(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com")
    result = refresh_suppressions()
    state = SuppressionRefreshState.load()
    assert state.as_of == result.as_of
    assert state.count == 1
    assert state.last_success_at is not None
    assert state.last_added == 1
    assert state.lease_owner == ""
    assert state.lease_until is None


def test_lookup_helpers_normalize_what_they_are_given(meisa_fake):
    meisa_fake.add_unsubscribed("ada@example.com")
    refresh_suppressions()
    assert is_suppressed("  ADA@EXAMPLE.com")
    assert not is_suppressed("ada+x@example.com")
    assert suppressed_among(["Ada@Example.com", "eve@example.com"]) == {"Ada@Example.com"}


def test_lookup_is_one_query_per_batch(django_assert_num_queries):
    SuppressedEmail.objects.create(email="a@x.com")
    addresses = [f"user{i}@x.com" for i in range(4500)] + ["A@x.com"]
    with django_assert_num_queries(3):  # 4501 keys at the default 2000 per query
        assert suppressed_among(addresses) == {"A@x.com"}


# Contact status ------------------------------------------------------------------------


def test_suppress_contact_status_adds_a_reported_row():
    suppress_contact_status("Zed@Example.com", "bounced")
    row = SuppressedEmail.objects.get(email="zed@example.com")
    assert (row.source, row.reason) == ("meisa", "bounced")
    assert row.reported_at is not None
    assert is_suppressed("zed@example.com")


def test_suppress_contact_status_ignores_active_and_keeps_local_rows_local():
    suppress_contact_status("a@x.com", "active")
    assert not emails()
    SuppressedEmail.objects.create(email="l@x.com", source="local", reason="note")
    suppress_contact_status("l@x.com", "complained")
    row = SuppressedEmail.objects.get(email="l@x.com")
    assert (row.source, row.reason) == ("local", "note")
    assert row.reported_at is not None  # so deleting it in the admin hands it to Meisa


def test_reported_row_survives_a_lagging_list_then_is_confirmed(meisa_fake):
    suppress_contact_status("late@x.com", "unsubscribed")
    assert refresh_suppressions().removed == 0  # list doesn't show it yet: kept
    assert is_suppressed("late@x.com")
    meisa_fake.add_unsubscribed("late@x.com")
    refresh_suppressions()
    row = SuppressedEmail.objects.get(email="late@x.com")
    assert row.reported_at is None  # now owned by the list like any other row


def test_reported_row_is_removed_once_the_grace_has_passed(meisa_fake):
    suppress_contact_status("gone@x.com", "unsubscribed")
    past = timezone.now() - dt.timedelta(hours=2)
    SuppressedEmail.objects.filter(email="gone@x.com").update(reported_at=past)
    meisa_fake.add_unsubscribed("other@x.com")  # not empty, so the empty-list alarm is off
    with meisa_settings(SUPPRESSION_STATUS_GRACE=3600):
        assert refresh_suppressions().removed == 1
    assert not is_suppressed("gone@x.com")


# The lock --------------------------------------------------------------------------------


def test_a_held_lease_makes_a_refresh_skip_without_touching_anything(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com")
    assert acquire_lease("someone-else")
    result = refresh_suppressions()
    assert result.skipped
    assert not result.ok
    assert result.error is None
    assert not emails()
    assert not [r for r in meisa_fake.requests if "unsubscribed" in r.path]
    release_lease("someone-else")
    assert refresh_suppressions().added == 1


def test_an_expired_lease_is_taken_over(meisa_fake):
    assert acquire_lease("crashed-worker")
    SuppressionRefreshState.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    meisa_fake.add_unsubscribed("a@x.com")
    assert refresh_suppressions().added == 1


# Failures leave the table untouched --------------------------------------------------------


def seed(meisa_fake: Any, *emails: str) -> set[str]:
    meisa_fake.add_unsubscribed(*emails)
    assert refresh_suppressions().ok
    return {canonical_key(e) or e for e in emails}


@contextmanager
def meisa_answers(status: int = 200, body: Any = None, raw: bytes | None = None) -> Iterator[None]:
    """Answer the list endpoint with exactly this, bypassing the fake."""
    with responses.RequestsMock() as mock:
        content = raw if raw is not None else json.dumps(body).encode()
        mock.add(responses.GET, LIST_URL, body=content, status=status)
        yield


LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


@pytest.mark.parametrize("kind", ["server_error", "timeout", "malformed", "redirect", "rate_limit"])
def test_a_failed_download_leaves_the_table_untouched_and_is_recorded(meisa_fake, kind, caplog):
    before = seed(meisa_fake, "a@x.com", "b@x.com")
    meisa_fake.remove_unsubscribed("a@x.com", "b@x.com")
    meisa_fake.inject_fault(kind)
    result = refresh_suppressions()
    assert result.error
    assert not result.ok
    assert emails() == before
    state = SuppressionRefreshState.load()
    assert state.last_error == result.error
    assert state.last_error_at is not None
    assert "table is unchanged" in caplog.text
    assert state.lease_owner == ""


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        ({"as_of": "2030-01-01T00:00:00Z", "count": 3, "emails": ["c@x.com"]}, None),
        ({"as_of": "2030-01-01T00:00:00Z", "count": 0, "emails": []}, b"{not json"),
        ({"as_of": "2030-01-01T00:00:00Z", "count": 1, "emails": "c@x.com"}, None),
        ({"as_of": "yesterday", "count": 1, "emails": ["c@x.com"]}, None),
        ({"count": 1, "emails": ["c@x.com"]}, None),
        ({"as_of": "2030-01-01T00:00:00Z", "count": "1", "emails": ["c@x.com"]}, None),
        (["c@x.com"], None),
        (None, b""),
        (None, b'{"as_of": "2030-01-01T00:00:00Z", "count": 2, "emails": ["c@x.com", '),
    ],
)
def test_a_malformed_or_inconsistent_body_changes_nothing(meisa_fake, body, raw):
    before = seed(meisa_fake, "a@x.com", "b@x.com")
    with meisa_answers(body=body, raw=raw):
        result = refresh_suppressions()
    assert result.error
    assert emails() == before
    assert SuppressionRefreshState.load().last_error


def test_an_http_error_status_with_a_valid_looking_body_changes_nothing(meisa_fake):
    before = seed(meisa_fake, "a@x.com")
    with meisa_answers(
        status=503, body={"as_of": "2030-01-01T00:00:00Z", "count": 0, "emails": []}
    ):
        assert refresh_suppressions().error
    assert emails() == before


def test_an_older_as_of_is_refused(meisa_fake):
    before = seed(meisa_fake, "a@x.com", "b@x.com")
    applied = SuppressionRefreshState.load().as_of
    older = (applied - dt.timedelta(minutes=1)).isoformat()
    with meisa_answers(body={"as_of": older, "count": 1, "emails": ["new@x.com"]}):
        result = refresh_suppressions()
    assert "older" in (result.error or "")
    assert emails() == before
    assert SuppressionRefreshState.load().as_of == applied


def test_the_same_as_of_is_accepted(meisa_fake):
    seed(meisa_fake, "a@x.com")
    applied = SuppressionRefreshState.load().as_of.isoformat()
    with meisa_answers(body={"as_of": applied, "count": 2, "emails": ["a@x.com", "n@x.com"]}):
        assert refresh_suppressions().added == 1


def test_a_database_failure_during_apply_rolls_everything_back(meisa_fake, monkeypatch):
    before = seed(meisa_fake, *[f"u{i}@x.com" for i in range(30)])
    meisa_fake.remove_unsubscribed("u0@x.com")
    meisa_fake.add_unsubscribed("new@x.com")

    def explode(self: Any, *args: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(DiffApplier, "_remove_or_withhold", explode)
    result = refresh_suppressions()
    assert "disk full" in (result.error or "")
    assert emails() == before  # the insert of new@x.com was rolled back too


def test_the_api_key_never_appears_in_errors_or_logs(meisa_fake, caplog):
    seed(meisa_fake, "a@x.com")
    meisa_fake.inject_fault("server_error")
    result = refresh_suppressions()
    assert "meisa_test_key" not in (result.error or "")
    assert "meisa_test_key" not in caplog.text
    assert "meisa_test_key" not in SuppressionRefreshState.load().last_error


# The shrink guard --------------------------------------------------------------------------------


def test_an_empty_list_withholds_every_deletion(meisa_fake, caplog):
    before = seed(meisa_fake, "a@x.com", "b@x.com", "c@x.com")
    meisa_fake.remove_unsubscribed("a@x.com", "b@x.com", "c@x.com")
    result = refresh_suppressions()
    assert result.ok
    assert (result.removed, result.withheld) == (0, 3)
    assert emails() == before
    assert "WITHHELD 3" in caplog.text
    assert SuppressionRefreshState.load().withheld == 3


def test_a_mass_shrink_applies_additions_and_withholds_deletions(meisa_fake):
    listed = [f"u{i}@x.com" for i in range(100)]
    before = seed(meisa_fake, *listed)
    meisa_fake.remove_unsubscribed(*listed[:20])  # 20% > 10%, and 20 > 10 rows
    meisa_fake.add_unsubscribed("new@x.com")
    result = refresh_suppressions()
    assert (result.added, result.removed, result.withheld) == (1, 0, 20)
    assert emails() == before | {"new@x.com"}
    state = SuppressionRefreshState.load()
    withheld_row = SuppressedEmail.objects.get(email="u0@x.com")
    kept_row = SuppressedEmail.objects.get(email="u50@x.com")
    assert withheld_row.withheld_last_listed is not None
    assert withheld_row.last_listed_at(state) < state.as_of
    assert kept_row.withheld_last_listed is None
    assert kept_row.last_listed_at(state) == state.as_of


def test_a_small_shrink_goes_through(meisa_fake):
    listed = [f"u{i}@x.com" for i in range(100)]
    seed(meisa_fake, *listed)
    meisa_fake.remove_unsubscribed(*listed[:5])
    assert refresh_suppressions().removed == 5


def test_below_the_minimum_count_a_large_fraction_goes_through(meisa_fake):
    seed(meisa_fake, "a@x.com", "b@x.com", "c@x.com")
    meisa_fake.remove_unsubscribed("a@x.com", "b@x.com")
    assert refresh_suppressions().removed == 2


def test_thresholds_are_settings(meisa_fake):
    listed = [f"u{i}@x.com" for i in range(100)]
    seed(meisa_fake, *listed)
    meisa_fake.remove_unsubscribed(*listed[:5])
    with meisa_settings(SUPPRESSION_SHRINK_MAX_FRACTION=0.01, SUPPRESSION_SHRINK_MIN_COUNT=2):
        assert refresh_suppressions().withheld == 5


@pytest.mark.parametrize("how", ["argument", "setting"])
def test_force_applies_withheld_deletions(meisa_fake, how):
    seed(meisa_fake, "a@x.com", "b@x.com")
    meisa_fake.remove_unsubscribed("a@x.com", "b@x.com")
    assert refresh_suppressions().withheld == 2
    if how == "argument":
        result = refresh_suppressions(force=True)
    else:
        with meisa_settings(SUPPRESSION_FORCE_SHRINK=True):
            result = refresh_suppressions()
    assert (result.removed, result.withheld) == (2, 0)
    assert not emails()


def test_withheld_rows_listed_again_are_confirmed_again(meisa_fake):
    listed = [f"u{i}@x.com" for i in range(50)]
    seed(meisa_fake, *listed)
    meisa_fake.remove_unsubscribed(*listed[:20])
    refresh_suppressions()
    meisa_fake.add_unsubscribed(*listed[:20])
    result = refresh_suppressions()
    assert (result.added, result.removed, result.withheld) == (0, 0, 0)
    assert not SuppressedEmail.objects.filter(withheld_last_listed__isnull=False).exists()


def test_duplicate_and_case_variant_entries_are_stored_once(meisa_fake):
    with meisa_answers(
        body={
            "as_of": "2030-01-01T00:00:00Z",
            "count": 4,
            "emails": ["a@x.com", "A@X.com", " a@x.com", "weird\\tab\n@x.com"],
        }
    ):
        result = refresh_suppressions()
    assert result.added == 1
    assert result.rejected == 1  # not one address: counted, never stored
    assert emails() == {"a@x.com"}


def test_empty_and_overlong_entries_are_skipped_not_fatal(meisa_fake, caplog):
    huge = "x" * 600 + "@x.com"
    body = {"as_of": "2030-01-01T00:00:00Z", "count": 4, "emails": ["", "  ", huge, "ok@x.com"]}
    with meisa_answers(body=body):
        result = refresh_suppressions()
    assert result.ok
    assert emails() == {"ok@x.com"}
    assert result.rejected == 3
    assert "Skipped 3 entries" in caplog.text


def test_a_lowercase_list_is_its_own_keys_and_a_mixed_one_is_lowered():
    # Meisa's list is usually lowercase: its strings are kept as keys (a million fewer
    # strings held during the diff), with the keys canonical_key gives one by one.
    lower = [f"user{i}@example.com" for i in range(3)]
    keys = canonical_keys(list(lower))
    assert keys == [canonical_key(value) for value in lower]
    assert all(key is value for key, value in zip(keys, lower, strict=True))
    mixed = ["User@Example.com", "b@c.d", "1@2.3"]
    assert canonical_keys(mixed) == ["user@example.com", "b@c.d", "1@2.3"]
    assert canonical_keys(["1@2.3"]) == ["1@2.3"]  # nothing to lower: islower() is False
