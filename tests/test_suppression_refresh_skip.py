"""An unchanged list skips the diff, and the skip leaves the same table and state as the
full diff would have, whatever was written between the two refreshes (#16 section 2)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import responses
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression import listing as listing_module
from django_meisa.suppression import refresh_suppressions, suppress_contact_status
from django_meisa.suppression.apply import DiffApplier
from django_meisa.suppression.local import remove_local_entries, suppress_locally
from django_meisa.suppression.refresh import RefreshResult

pytestmark = pytest.mark.django_db

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"
LISTED = [f"Person{i}@Example.com" for i in range(40)] + ["not an address", "x" * 600]
VOLATILE = ("last_attempt_at", "last_success_at", "list_digest", "lease_until", "lease_owner")


@contextmanager
def meisa_lists(emails: list[Any], as_of: dt.datetime) -> Iterator[None]:
    body = {"as_of": as_of.isoformat(), "count": len(emails), "emails": emails}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, body=json.dumps(body).encode(), status=200)
        yield


def refresh(emails: list[Any], as_of: dt.datetime, **kwargs: Any) -> RefreshResult:
    with meisa_lists(emails, as_of):
        result = refresh_suppressions(**kwargs)
    assert result.ok, result.error
    return result


def snapshot(started: dt.datetime) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Every row and the state; a row inserted from ``started`` on shows "new" as its
    ``first_seen`` (the two runs compared insert it at different instants)."""
    rows = SuppressedEmail.objects.order_by("email").values_list(
        "email",
        "source",
        "first_seen",
        "withheld_last_listed",
        "meisa_lists_too",
        "reported_at",
        "reason",
    )
    table = [(*row[:2], "new" if row[2] >= started else row[2], *row[3:]) for row in rows]
    state = SuppressionRefreshState.objects.values().get()
    return table, {k: v for k, v in state.items() if k not in VOLATILE}


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def reported_long_ago(email: str) -> None:
    suppress_contact_status(email, "bounced")
    SuppressedEmail.objects.filter(email=email.lower()).update(reported_at=ago(hours=2.5))


# What happens before the first refresh, and between it and the second (the same list,
# a later as_of). Each must end in the same table and state with and without the skip.
SCENARIOS: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    "nothing": (lambda: None, lambda: None),
    "local-row-unlisted-added": (lambda: None, lambda: suppress_locally("new@example.com")),
    "local-row-listed-added": (lambda: None, lambda: suppress_locally("person3@example.com")),
    "local-row-listed-before": (lambda: suppress_locally("person3@example.com"), lambda: None),
    "local-row-removed": (
        lambda: suppress_locally("new@example.com"),
        lambda: remove_local_entries(SuppressedEmail.objects.filter(source="local")),
    ),
    "status-on-a-listed-row": (
        lambda: None,
        lambda: suppress_contact_status("person5@example.com", "bounced"),
    ),
    "status-on-an-unlisted-address": (
        lambda: None,
        lambda: suppress_contact_status("new@example.com", "complained"),
    ),
    "reported-row-whose-grace-runs-out": (
        lambda: reported_long_ago("old@example.com"),
        lambda: None,
    ),
    "meisa-row-deleted": (
        lambda: None,
        lambda: SuppressedEmail.objects.filter(email="person7@example.com").delete(),
    ),
}


# Where the second refresh may skip: nothing that the last diff left waits on time, and
# any write since changed no applied row.
SKIPPING = {
    "nothing",
    "local-row-unlisted-added",
    "local-row-listed-added",  # a no-op: a meisa row stays Meisa's
    "local-row-listed-before",  # its mark is a fact about the list, not about a date
    "local-row-removed",
    "status-on-a-listed-row",
}


def second_refresh(fast: bool, monkeypatch: pytest.MonkeyPatch, as_of: dt.datetime) -> Any:
    """The second refresh, rolled back after its table and state are read; whether it
    computed the keys (diffed in full) is the last item."""
    parsed: list[int] = []
    with monkeypatch.context() as patch, transaction.atomic():
        if not fast:
            patch.setattr(DiffApplier, "unchanged", lambda *args: None)
        keys = listing_module.unique_keys
        patch.setattr(listing_module, "unique_keys", lambda e: parsed.append(1) or keys(e))
        started = timezone.now()
        result = refresh(LISTED, as_of)
        seen = (snapshot(started), result, bool(parsed))
        transaction.set_rollback(True)
    return seen


def both_ways(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    as_of = ago(minutes=1)
    return second_refresh(True, monkeypatch, as_of), second_refresh(False, monkeypatch, as_of)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_skip_leaves_what_the_full_diff_leaves(scenario, monkeypatch):
    before, between = SCENARIOS[scenario]
    before()
    refresh(LISTED, ago(hours=3))
    between()
    skipped, full = both_ways(monkeypatch)
    assert skipped[:2] == full[:2]
    assert skipped[2] is (scenario not in SKIPPING)  # the skip was taken where it can be


def test_withheld_rows_are_re_decided_by_every_refresh(monkeypatch):
    # The guard withheld; the operator then raised the threshold: the same list, again,
    # now deletes them, and so must a refresh that could have skipped.
    refresh([*LISTED, *[f"gone{i}@example.com" for i in range(30)]], ago(hours=4))
    assert refresh(LISTED, ago(hours=3)).withheld == 30
    with override_settings(MEISA={**settings.MEISA, "SUPPRESSION_SHRINK_MAX_FRACTION": 0.9}):
        skipped, full = both_ways(monkeypatch)
    assert skipped == full
    assert full[1].removed == 30


def test_an_unchanged_list_computes_no_key_and_writes_no_row(monkeypatch):
    refresh(LISTED, ago(hours=3))
    token = SuppressionRefreshState.objects.get().list_digest.split(":")[1]
    monkeypatch.setattr(listing_module, "canonical_keys", pytest.fail)
    result = refresh(LISTED, ago(minutes=1))
    state = SuppressionRefreshState.objects.get()
    assert (result.added, result.confirmed, result.removed, result.rejected) == (0, 40, 0, 2)
    assert (state.last_confirmed_count, state.last_rejected, state.count) == (40, 2, 42)
    assert state.list_digest.split(":")[1] == token  # the generation was not bumped


def test_force_always_diffs_in_full(monkeypatch):
    refresh(LISTED, ago(hours=3))
    monkeypatch.setattr(listing_module, "canonical_keys", pytest.fail)
    with meisa_lists(LISTED, ago(minutes=1)):
        assert "Failed" in (refresh_suppressions(force=True).error or "")


def test_a_note_and_an_as_of_are_recorded_by_the_skip_too():
    refresh(LISTED, ago(hours=3))
    future = timezone.now() + dt.timedelta(days=1)
    result = refresh(LISTED, future)
    state = SuppressionRefreshState.objects.get()
    assert "ahead of this server's clock" in state.last_note == result.note
    assert state.as_of == result.as_of < future


def test_the_fingerprint_tells_apart_lists_that_join_alike():
    fingerprint = listing_module.list_fingerprint
    assert fingerprint(["a\nb", "c"]) != fingerprint(["a", "b\nc"])
    assert fingerprint(["a", None]) != fingerprint(["a", "null"])
    assert fingerprint([1, "a"]) != fingerprint(["1", "a"])
    assert fingerprint(["a\ud800"]) != fingerprint(["a"])
