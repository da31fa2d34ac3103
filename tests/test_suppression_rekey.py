"""Migration 0004's re-keying: every stored row ends under its canonical key, none lost."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from django_meisa.models import SuppressedEmail
from django_meisa.suppression import explain_address, is_suppressed
from django_meisa.suppression.rekey import rekey_rows

pytestmark = pytest.mark.django_db


def row(email: str, **fields: object) -> SuppressedEmail:
    return SuppressedEmail.objects.create(email=email, **fields)


def test_rows_stored_by_0_1_become_matchable():
    # What 0.1's admin and refresh stored: lowercased raw text.
    for text in ["jane doe <jane@example.com>", "<bob@example.com>", '"q"@example.com']:
        row(text, source="local")
    assert not is_suppressed("jane@example.com")
    counts = rekey_rows(SuppressedEmail)
    assert counts["rekeyed"] == 3
    assert set(SuppressedEmail.objects.values_list("email", flat=True)) == {
        "jane@example.com",
        "bob@example.com",
        "q@example.com",
    }
    assert explain_address("Jane <jane@example.com>").suppressed


def test_duplicates_merge_keeping_the_strongest_information():
    old = timezone.now() - dt.timedelta(days=30)
    reported = timezone.now()
    row("ada@example.com", source="meisa", first_seen=timezone.now())
    row("ada <ada@example.com>", source="local", reason="asked by phone", first_seen=old)
    row("<ada@example.com>", source="meisa", reported_at=reported)
    counts = rekey_rows(SuppressedEmail)
    assert counts["merged"] == 2
    [merged] = SuppressedEmail.objects.all()
    assert (merged.email, merged.source, merged.reason) == (
        "ada@example.com",
        "local",
        "asked by phone",
    )
    assert merged.first_seen == old
    assert merged.reported_at == reported


def test_a_local_row_merged_with_a_listed_meisa_row_is_marked_listed_by_meisa_too():
    row("dee@example.com", source="meisa")
    row("Dee <dee@example.com>", source="local", reason="asked by phone")
    rekey_rows(SuppressedEmail)
    [merged] = SuppressedEmail.objects.all()
    assert (merged.source, merged.meisa_lists_too) == ("local", True)
    assert merged.withheld_last_listed is None


def test_merged_meisa_rows_stay_withheld_only_when_both_were():
    withheld = timezone.now() - dt.timedelta(days=2)
    row("bo@example.com", source="meisa", withheld_last_listed=withheld)
    row("<bo@example.com>", source="meisa", withheld_last_listed=withheld - dt.timedelta(1))
    row("cy@example.com", source="meisa", withheld_last_listed=withheld)
    row("<cy@example.com>", source="meisa")  # listed by the latest list: the strongest
    rekey_rows(SuppressedEmail)
    marks = dict(SuppressedEmail.objects.values_list("email", "withheld_last_listed"))
    assert marks == {"bo@example.com": withheld, "cy@example.com": None}


def test_a_row_with_several_addresses_is_kept_and_each_address_suppressed():
    row("dave@example.com; erin@example.com", source="local", reason="both")
    counts = rekey_rows(SuppressedEmail)
    assert counts == {"rekeyed": 0, "merged": 0, "split": 2, "kept": 1}
    assert is_suppressed("dave@example.com")
    assert is_suppressed("erin@example.com")
    assert SuppressedEmail.objects.filter(email="dave@example.com; erin@example.com").exists()
    assert SuppressedEmail.objects.get(email="erin@example.com").reason == "both"


def test_canonical_rows_are_left_alone_and_a_second_run_changes_nothing():
    row("ada@example.com")
    row("Ada <Ada@Example.COM>")
    rekey_rows(SuppressedEmail)
    assert rekey_rows(SuppressedEmail) == {"rekeyed": 0, "merged": 0, "split": 0, "kept": 0}
    assert list(SuppressedEmail.objects.values_list("email", flat=True)) == ["ada@example.com"]
