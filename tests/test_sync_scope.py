"""Who is synced and identity changes, through the real worker and backfill paths."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command

from django_meisa.contacts.worker import sync_contact_now
from django_meisa.models import MeisaSyncResult, UserSyncState
from django_meisa.signals import contact_synced
from django_meisa.stats import meisa_stats
from tests.sync_support import make_user, state_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


@pytest.fixture
def synced_signals():
    calls: list = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    contact_synced.connect(receiver)
    yield calls
    contact_synced.disconnect(receiver)


def only_members(user):
    return not user.username.startswith("test-")


def meisa(settings, **values):
    settings.MEISA = {**settings.MEISA, **values}


def test_an_ineligible_user_is_recorded_and_nothing_is_sent(settings, meisa_fake):
    meisa(settings, SYNC_USERS_FILTER={"is_staff": False})
    boss = make_user("boss", is_staff=True)
    outcome = sync_contact_now(boss.pk, force=True)  # the admin's "sync now" path
    assert outcome.result == MeisaSyncResult.SKIPPED_INELIGIBLE
    assert meisa_fake.upserts == []
    state = state_of(boss)
    assert state.last_result == MeisaSyncResult.SKIPPED_INELIGIBLE
    assert not state.is_pending


def test_a_user_who_stops_matching_is_no_longer_synced(settings, meisa_fake):
    meisa(settings, SHOULD_SYNC_USER="tests.test_sync_scope.only_members")
    user = make_user("ada")
    sync_contact_now(user.pk)
    assert len(meisa_fake.upserts) == 1
    user.username = "test-ada"
    user.first_name = "Changed"
    user.save()
    assert sync_contact_now(user.pk).result == MeisaSyncResult.SKIPPED_INELIGIBLE
    assert len(meisa_fake.upserts) == 1


def test_a_raising_should_sync_user_fails_permanently(settings, meisa_fake):
    meisa(settings, SHOULD_SYNC_USER="tests.test_eligibility.raising")
    user = make_user("ada")
    assert sync_contact_now(user.pk).result == MeisaSyncResult.FAILED_PERMANENT
    assert "SHOULD_SYNC_USER" in state_of(user).last_error
    assert meisa_fake.upserts == []


def test_the_backfill_applies_the_same_rules(settings, meisa_fake):
    meisa(
        settings,
        SYNC_USERS_FILTER={"is_active": True},
        SHOULD_SYNC_USER="tests.test_sync_scope.only_members",
    )
    ada = make_user("ada")
    make_user("gone", is_active=False)
    tester = make_user("test-bob")
    call_command("meisa_backfill", "--inline", verbosity=0)
    assert {u["email"] for u in meisa_fake.upserts} == {ada.email}
    assert state_of(tester).last_result == MeisaSyncResult.SKIPPED_INELIGIBLE


def test_a_changed_contact_id_is_kept_and_announced(meisa_fake, synced_signals):
    user = make_user("ada")
    sync_contact_now(user.pk)
    first = state_of(user).contact_id
    assert synced_signals[-1]["previous_contact_id"] is None
    meisa_fake.reset()  # the contact was deleted in Meisa; the next upsert creates another
    sync_contact_now(user.pk, force=True)
    state = state_of(user)
    assert state.contact_id != first
    assert state.previous_contact_id == first
    assert state.last_result == MeisaSyncResult.CONTACT_CHANGED
    assert synced_signals[-1]["previous_contact_id"] == first
    assert meisa_stats().contact_changed == 1


def test_two_users_with_one_email_share_a_contact_visibly(meisa_fake):
    ada, twin = make_user("ada"), make_user("twin", email="ada@example.com")
    sync_contact_now(ada.pk)
    sync_contact_now(twin.pk)
    assert state_of(ada).contact_id == state_of(twin).contact_id
    assert meisa_stats().shared_contacts == 2


def test_per_user_log_lines_carry_structured_fields(meisa_fake, caplog):
    from django_meisa.tasks import sync_contact

    user = make_user("ada")
    with caplog.at_level(logging.INFO, logger="django_meisa"):
        sync_contact.apply(args=(user.pk,))
    [record] = [r for r in caplog.records if getattr(r, "meisa_user_pk", None)]
    assert record.meisa_user_pk == str(user.pk)
    assert record.meisa_result == "synced"
    assert record.meisa_version == UserSyncState.objects.get(user=user).version
    assert "ada@example.com" not in record.getMessage()
    assert "meisa_test_key" not in caplog.text


def test_two_users_on_one_contact_are_logged_with_both_pks(meisa_fake, caplog):
    ada, twin = make_user("ada"), make_user("twin", email="ada@example.com")
    sync_contact_now(ada.pk)
    with caplog.at_level(logging.WARNING, logger="django_meisa"):
        sync_contact_now(twin.pk)
    [record] = [r for r in caplog.records if getattr(r, "meisa_result", "") == "contact_shared"]
    assert f"user pk={twin.pk}" in record.getMessage()
    assert str(ada.pk) in record.getMessage()
    assert "ada@example.com" not in record.getMessage()
