"""meisa_sync: sync or preview users named by pk, username or email; exit status; no traceback."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.sync_support import make_user
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("meisa_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def plan_of(user):
    return user.profile.plan.upper()


def broken(user):
    raise ValueError("profile missing for this one")


def test_preview_prints_the_exact_body_with_source_and_sends_nothing(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"plan": "profile.plan"}}
    user = make_user("ada")
    Profile.objects.create(user=user, plan="pro")
    out, _ = run("--preview", "ada")
    body = json.loads(out.split("\n", 1)[1])
    assert body == {
        "email": "ada@example.com",
        "external_id": str(user.pk),
        "first_name": "",
        "last_name": "",
        "custom_fields": {"plan": "pro"},
        "source": "signup",  # the first sync of a new user
    }
    assert meisa_fake.upserts == []


def test_users_are_found_by_pk_username_or_email(meisa_fake):
    ada, bob = make_user("ada"), make_user("bob", email="Bob@Example.com")
    out, _ = run(str(ada.pk), "bob@example.com", "--force")
    assert f"user pk={ada.pk}: synced" in out
    assert f"user pk={bob.pk}: synced" in out
    assert [u["email"] for u in meisa_fake.upserts] == ["ada@example.com", "Bob@example.com"]


def test_an_unknown_user_fails_the_command_but_the_others_are_synced(meisa_fake):
    make_user("ada")
    with pytest.raises(CommandError) as caught:
        run("ada", "nobody")
    assert caught.value.returncode == 1
    assert len(meisa_fake.upserts) == 1


def test_force_sends_an_unchanged_user_again(meisa_fake):
    make_user("ada")
    run("ada")
    out, _ = run("ada")
    assert "up_to_date" in out or "unchanged" in out
    run("ada", "--force")
    assert len(meisa_fake.upserts) == 2


def test_a_raising_mapper_shows_its_message_and_field_not_a_traceback(settings, meisa_fake):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "tests.test_sync_command.broken"},
    }
    make_user("ada")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("meisa_sync", "--preview", "ada", stdout=StringIO(), stderr=err)
    text = err.getvalue()
    assert "field CUSTOM_FIELDS.plan" in text
    assert "ValueError: profile missing for this one" in text
    assert "Traceback" not in text
    assert meisa_fake.upserts == []


def test_two_users_sharing_an_email_are_both_shown(meisa_fake):
    ada, twin = make_user("ada"), make_user("twin", email="ADA@example.com")
    out, err = run("--preview", "ada@example.com")
    assert f"2 users share it (pks {ada.pk}, {twin.pk})" in err
    assert out.count("# user pk=") == 2


def test_an_ineligible_user_is_reported_as_skipped_with_exit_status_0(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "SYNC_USERS_FILTER": {"is_staff": False}}
    make_user("boss", is_staff=True)
    out, _ = run("boss", "--force")
    assert "skipped_ineligible" in out
    preview, _ = run("--preview", "boss")
    assert "not eligible" in preview
    assert meisa_fake.upserts == []
