"""The refresh: diff apply, failure modes, the shrink guard, the lock and the counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression import (
    is_suppressed,
    refresh_suppressions,
    suppress_contact_status,
    suppressed_among,
)
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
    meisa_fake.add_unsubscribed("both@x.com")
    assert refresh_suppressions().added == 0
    meisa_fake.remove_unsubscribed("both@x.com")
    assert refresh_suppressions().removed == 0
    assert SuppressedEmail.objects.get(email="both@x.com").source == "local"


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


def test_suppress_contact_status_ignores_active_and_leaves_local_rows_alone():
    suppress_contact_status("a@x.com", "active")
    assert not emails()
    SuppressedEmail.objects.create(email="l@x.com", source="local", reason="note")
    suppress_contact_status("l@x.com", "complained")
    row = SuppressedEmail.objects.get(email="l@x.com")
    assert (row.source, row.reason, row.reported_at) == ("local", "note", None)


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
