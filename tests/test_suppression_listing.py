"""Hostile lists: odd entries are canonicalised or rejected, a future as_of never freezes."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import responses
from django.core import mail
from django.core.mail import EmailMessage, get_connection
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression import is_suppressed, refresh_suppressions

pytestmark = pytest.mark.django_db(transaction=True)

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"
WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@contextmanager
def meisa_lists(*emails: str, as_of: str | None = None) -> Iterator[None]:
    """Answer the list endpoint with exactly these entries (JSON-escaped as Meisa would)."""
    when = as_of or timezone.now().isoformat()
    body = json.dumps({"as_of": when, "count": len(emails), "emails": list(emails)})
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, body=body.encode(), status=200)
        yield


def emails() -> set[str]:
    return set(SuppressedEmail.objects.values_list("email", flat=True))


def iso(delta: dt.timedelta) -> str:
    return (timezone.now() + delta).isoformat()


# Odd entries ------------------------------------------------------------------------------

ODD_BUT_ONE_ADDRESS = {
    '"q"@example.com': "q@example.com",
    "Victim Two <v2@example.com>": "v2@example.com",
    "<bob@example.com>": "bob@example.com",
    "carl@example.com (old account)": "carl@example.com",
    "  Dave@EXAMPLE.com. ": "dave@example.com",
    "erin@Bücher.de": "erin@xn--bcher-kva.de",
}
UNSTORABLE = [
    "nul\x00@example.com",  # fails COPY on PostgreSQL
    "\udc80lone@example.com",  # a lone surrogate: no driver can encode it
    "dave@example.com; erin@example.com",
    "a@example.com, b@example.com",
    "",
    "   ",
    "no-at-sign",
    "x" * 600 + "@example.com",
    '"a."@example.com',
]


def test_odd_entries_are_stored_under_the_key_every_lookup_uses():
    with meisa_lists(*ODD_BUT_ONE_ADDRESS, "new@example.com", *UNSTORABLE):
        result = refresh_suppressions()
    assert result.ok, result.error
    assert emails() == {*ODD_BUT_ONE_ADDRESS.values(), "new@example.com"}
    assert result.rejected == len(UNSTORABLE)
    assert SuppressionRefreshState.load().last_rejected == len(UNSTORABLE)
    for address in ("q@example.com", "v2@example.com", "Erin <ERIN@bücher.de>"):
        assert is_suppressed(address)


def test_the_wrapper_drops_what_an_odd_entry_names():
    with meisa_lists('"q"@example.com', "Victim Two <v2@example.com>"):
        assert refresh_suppressions().ok
    messages = [
        EmailMessage("s", "b", "from@example.com", [to])
        for to in ("q@example.com", "v2@example.com", "ok@example.com")
    ]
    with override_settings(MEISA={"API_KEY": "k", "EMAIL_BACKEND": LOCMEM}):
        assert get_connection(WRAPPER).send_messages(messages) == 1
    assert [m.to for m in mail.outbox] == [["ok@example.com"]]


def test_one_unstorable_entry_never_blocks_a_new_unsubscribe(caplog):
    with meisa_lists("old@example.com"):
        assert refresh_suppressions().ok
    for bad in UNSTORABLE:
        with meisa_lists("old@example.com", bad, "new@example.com"):
            result = refresh_suppressions()
        assert result.ok, (bad, result.error)
        assert emails() == {"old@example.com", "new@example.com"}
        SuppressedEmail.objects.filter(email="new@example.com").delete()
    assert "nul" not in caplog.text  # counts are logged, never the entries
    assert "Skipped 1 entries" in caplog.text


def test_the_command_and_the_admin_show_the_rejected_count(admin_client):
    with meisa_lists("ok@example.com", "nul\x00@example.com", "a@x.com, b@x.com"):
        out, err = io.StringIO(), io.StringIO()
        call_command("meisa_refresh_suppressions", stdout=out, stderr=err)
    assert "rejected 2" in out.getvalue()
    assert "2 entr(ies) of Meisa's list REJECTED" in err.getvalue()
    page = admin_client.get("/admin/django_meisa/suppressedemail/").content.decode()
    assert "Entries rejected" in page
    assert "<strong>2</strong>" in page


# as_of ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00"],
)
def test_a_future_as_of_is_clamped_recorded_and_never_freezes_the_mirror(as_of):
    with meisa_lists("a@example.com", as_of=as_of):
        result = refresh_suppressions()
    assert result.ok, result.error
    assert result.as_of <= timezone.now()
    state = SuppressionRefreshState.load()
    assert state.as_of <= timezone.now()
    assert "ahead of this server's clock" in state.last_note
    with meisa_lists("a@example.com", "b@example.com", as_of=iso(dt.timedelta(seconds=1))):
        assert refresh_suppressions().ok  # the next genuine list applies
    assert emails() == {"a@example.com", "b@example.com"}
    assert SuppressionRefreshState.load().last_note == ""


def test_a_little_clock_skew_is_accepted_as_is():
    ahead = iso(dt.timedelta(minutes=2))
    with meisa_lists("a@example.com", as_of=ahead):
        result = refresh_suppressions()
    assert result.as_of.isoformat() == dt.datetime.fromisoformat(ahead).isoformat()
    assert result.note == ""


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_an_ancient_as_of_on_a_first_load_is_applied(as_of):
    with meisa_lists("a@example.com", as_of=as_of):
        result = refresh_suppressions()
    assert result.ok, result.error
    assert emails() == {"a@example.com"}


def test_a_future_as_of_applied_before_the_fix_is_ignored():
    with meisa_lists("a@example.com"):
        assert refresh_suppressions().ok
    frozen = timezone.now().replace(year=2099)
    SuppressionRefreshState.objects.update(as_of=frozen)  # what 0.1 stored
    with meisa_lists("a@example.com", "new@example.com"):
        result = refresh_suppressions()
    assert result.ok, result.error
    assert "new@example.com" in emails()


def test_reported_rows_keep_their_grace_after_a_future_as_of():
    SuppressedEmail.objects.create(email="reported@example.com", reported_at=timezone.now())
    with meisa_lists("a@example.com", as_of="2099-01-01T00:00:00Z"):
        assert refresh_suppressions().ok
    assert "reported@example.com" in emails()  # the grace cutoff stayed in the past


def test_an_older_list_is_refused_but_force_applies_it():
    with meisa_lists("a@example.com", as_of=iso(dt.timedelta(0))):
        assert refresh_suppressions().ok
    older = iso(dt.timedelta(hours=-1))
    with meisa_lists("a@example.com", "b@example.com", as_of=older):
        result = refresh_suppressions()
    assert "older than the applied" in result.error
    assert "--force" in result.error
    with meisa_lists("a@example.com", "b@example.com", as_of=older):
        assert refresh_suppressions(force=True).ok
    assert emails() == {"a@example.com", "b@example.com"}


def test_the_admin_force_refresh_overrides_the_staleness_check(admin_client):
    with meisa_lists("a@example.com", as_of=iso(dt.timedelta(0))):
        assert refresh_suppressions().ok
    older = iso(dt.timedelta(hours=-1))
    with meisa_lists("a@example.com", "b@example.com", as_of=older):
        admin_client.post("/admin/django_meisa/suppressedemail/refresh/", {"force": "1"})
    assert emails() == {"a@example.com", "b@example.com"}


def test_reset_as_of_is_the_operators_way_out():
    with meisa_lists("a@example.com", as_of=iso(dt.timedelta(0))):
        assert refresh_suppressions().ok
    SuppressionRefreshState.objects.update(as_of=timezone.now() + dt.timedelta(minutes=3))
    older = iso(dt.timedelta(hours=-1))
    out, err = io.StringIO(), io.StringIO()
    with meisa_lists("a@example.com", "b@example.com", as_of=older):
        call_command("meisa_refresh_suppressions", "--reset-as-of", stdout=out, stderr=err)
    assert "reset" in err.getvalue()
    assert emails() == {"a@example.com", "b@example.com"}
