"""The backfill's dry run can show the exact payloads of its first users, sending nothing."""

from __future__ import annotations

import pytest

from django_meisa.backfill.chunk import first_payloads
from django_meisa.backfill.selection import MeisaBackfillSelection
from tests.sync_support import make_user
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def test_the_first_users_payloads_with_the_backfill_source(settings, meisa_fake):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "profile.plan"},
        "SYNC_USERS_FILTER": {"is_staff": False},
    }
    users = [make_user(f"user{i}") for i in range(4)]
    Profile.objects.create(user=users[0], plan="pro")
    make_user("boss", is_staff=True)
    previews = first_payloads(MeisaBackfillSelection(), 3)
    assert [p.user_pk for p in previews] == [u.pk for u in users[:3]]
    assert previews[0].payload["custom_fields"] == {"plan": "pro"}
    assert {p.payload["source"] for p in previews} == {"initial_sync"}
    assert meisa_fake.upserts == []


def test_the_selection_is_honoured(settings):
    ada, bob = make_user("ada"), make_user("bob", is_active=False)
    previews = first_payloads(MeisaBackfillSelection(exclude_inactive=True), 10)
    assert [p.user_pk for p in previews] == [ada.pk]
    assert first_payloads(MeisaBackfillSelection(ids=(bob.pk,)), 10)[0].user_pk == bob.pk


def test_the_command_prints_the_first_payloads_in_a_dry_run(meisa_fake):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    ada = make_user("ada")
    make_user("bob")
    out = StringIO()
    call_command("meisa_backfill", "--inline", "--dry-run", "--show", "1", stdout=out)
    text = out.getvalue()
    assert f"# user pk={ada.pk}" in text
    assert '"source": "initial_sync"' in text
    assert "bob@example.com" not in text
    assert meisa_fake.upserts == []
    with pytest.raises(CommandError, match="--dry-run"):
        call_command("meisa_backfill", "--inline", "--show", "1", stdout=StringIO())


def test_the_selection_pushes_sync_users_filter_into_sql(settings):
    from django_meisa.backfill.selection import count_selected, selected_users

    settings.MEISA = {**settings.MEISA, "SYNC_USERS_FILTER": {"is_staff": False}}
    ada = make_user("ada")
    make_user("boss", is_staff=True)
    assert count_selected(MeisaBackfillSelection()) == 1
    assert list(selected_users(MeisaBackfillSelection())) == [ada]
    assert "is_staff" in str(selected_users(MeisaBackfillSelection()).query)
