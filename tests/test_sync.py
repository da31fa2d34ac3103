"""sync_contact_now without Celery: sources, skips, failures, records and signals."""

from __future__ import annotations

import pytest

from django_meisa.contacts.worker import sync_contact_now
from django_meisa.exceptions import MeisaConfigurationError, MeisaServerError
from django_meisa.models import UserSyncState
from django_meisa.signals import contact_sync_failed, contact_synced
from tests.sync_support import make_user, state_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    """These tests call sync_contact_now themselves: publish nothing."""
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **options: None)


@pytest.fixture
def received():
    """Collect the kwargs of contact_synced and contact_sync_failed."""
    events = []

    def on_synced(sender, **kwargs):
        events.append(("synced", kwargs))

    def on_failed(sender, **kwargs):
        events.append(("failed", kwargs))

    contact_synced.connect(on_synced)
    contact_sync_failed.connect(on_failed)
    yield events
    contact_synced.disconnect(on_synced)
    contact_sync_failed.disconnect(on_failed)


def test_first_sync_of_a_new_user_is_signup_then_api(meisa_fake, received):
    user = make_user("ada")
    assert state_of(user).signup_pending is True
    outcome = sync_contact_now(user.pk)
    assert outcome.result == "synced"
    assert outcome.sent
    user.first_name = "Ada"
    user.save()
    sync_contact_now(user.pk)
    assert [u["source"] for u in meisa_fake.upserts] == ["signup", "api"]
    state = state_of(user)
    assert state.contact_id == meisa_fake.contact("ada@example.com")["id"]
    assert (state.meisa_status, state.synced_version, state.version) == ("active", 2, 2)
    assert state.pending_since is None
    assert [name for name, _ in received] == ["synced", "synced"]
    assert received[0][1]["source"] == "signup"
    assert received[0][1]["contact"]["email"] == "ada@example.com"


def test_explicit_source_wins_and_is_not_part_of_the_fingerprint(meisa_fake):
    user = make_user("imported")
    sync_contact_now(user.pk, source="initial_sync")
    assert meisa_fake.upserts[0]["source"] == "initial_sync"
    assert state_of(user).signup_pending is False
    user.save()
    assert sync_contact_now(user.pk).result == "unchanged"
    assert len(meisa_fake.requests) == 1


def test_up_to_date_and_force(meisa_fake):
    user = make_user("steady")
    sync_contact_now(user.pk)
    assert sync_contact_now(user.pk).result == "up_to_date"
    assert sync_contact_now(user.pk, force=True).result == "synced"
    assert len(meisa_fake.upserts) == 2


def test_a_user_never_requested_is_synced_once(meisa_fake):
    user = make_user("old")
    UserSyncState.objects.all().delete()  # e.g. users from before django-meisa
    assert sync_contact_now(user.pk).result == "synced"
    assert sync_contact_now(user.pk).result == "up_to_date"


def test_a_user_without_email_is_a_recorded_skip(meisa_fake):
    user = make_user("nomail", email="")
    outcome = sync_contact_now(user.pk)
    assert outcome.result == "skipped_no_email"
    assert meisa_fake.requests == []
    state = state_of(user)
    assert state.last_result == "skipped_no_email"
    assert not state.is_pending


def test_a_deleted_user_is_a_skip(meisa_fake):
    user = make_user("gone")
    pk = user.pk
    user.delete()
    assert sync_contact_now(pk).result == "skipped_deleted"
    assert meisa_fake.requests == []


def test_a_raising_mapper_is_recorded_once_and_sends_nothing(
    meisa_fake, settings, caplog, received
):
    settings.MEISA = {**settings.MEISA, "MAPPER": "tests.sync_callables.exploding"}
    user = make_user("boom")
    outcome = sync_contact_now(user.pk)
    assert outcome.result == "failed_permanent"
    assert meisa_fake.requests == []
    state = state_of(user)
    assert state.failed_version == state.version
    assert 'MEISA["MAPPER"]' in state.last_error
    assert "KeyError" in state.last_error
    assert "boom@example.com" not in state.last_error + caplog.text
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    assert [(n, k["retryable"]) for n, k in received] == [("failed", False)]


def test_a_rejected_request_records_the_field_names_only(meisa_fake):
    user = make_user("rejected")
    meisa_fake.inject_fault("server_error", status=422)
    outcome = sync_contact_now(user.pk)
    assert outcome.result == "failed_permanent"
    assert "HTTP 422" in state_of(user).last_error
    assert state_of(user).attempts == 1


def test_a_retryable_failure_is_recorded_then_raised(meisa_fake):
    user = make_user("later")
    meisa_fake.inject_fault("server_error", times=2)
    for attempt in (1, 2):
        with pytest.raises(MeisaServerError):
            sync_contact_now(user.pk)
        state = state_of(user)
        assert (state.attempts, state.last_result) == (attempt, "failed_retryable")
        assert state.is_pending
        assert state.lease_until is None  # released for the next attempt
    assert sync_contact_now(user.pk).result == "synced"
    state = state_of(user)
    assert (state.attempts, state.last_error, state.failed_version) == (0, "", None)


def test_a_new_change_after_a_permanent_failure_is_tried_again(meisa_fake):
    user = make_user("fixed")
    meisa_fake.inject_fault("server_error", status=400)
    assert sync_contact_now(user.pk).result == "failed_permanent"
    user.first_name = "Fixed"
    user.save()
    assert state_of(user).is_pending
    assert sync_contact_now(user.pk).result == "synced"


def test_misconfiguration_raises_and_leaves_the_user_pending(settings):
    settings.MEISA = {**settings.MEISA, "API_KEY": ""}
    user = make_user("waiting")
    with pytest.raises(MeisaConfigurationError):
        sync_contact_now(user.pk)
    assert state_of(user).is_pending


def test_disabled_does_nothing(meisa_fake, settings):
    user = make_user("off")
    settings.MEISA = {**settings.MEISA, "ENABLED": False}
    assert sync_contact_now(user.pk).result == "disabled"
    assert meisa_fake.requests == []


def test_a_non_active_status_is_mirrored_to_the_suppression_list(meisa_fake):
    from django_meisa.suppression import is_suppressed

    meisa_fake.unsubscribe("left@example.com", "bounced")
    user = make_user("left")
    assert not is_suppressed("left@example.com")
    sync_contact_now(user.pk)
    assert is_suppressed("left@example.com")
    assert state_of(user).meisa_status == "bounced"


def test_a_receiver_error_never_undoes_the_sync(meisa_fake, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("site bug")

    contact_synced.connect(broken)
    try:
        user = make_user("robust")
        assert sync_contact_now(user.pk).result == "synced"
    finally:
        contact_synced.disconnect(broken)
    assert state_of(user).last_result == "synced"
    assert "RuntimeError" in caplog.text


def test_a_send_that_outlived_its_lease_is_repaired(meisa_fake, monkeypatch):
    from django_meisa.contacts import worker as sync_module

    user = make_user("slow")
    real_upsert = sync_module.MeisaClient.upsert_contact

    def upsert_then_lose_lease(self, payload):
        contact = real_upsert(self, payload)
        UserSyncState.objects.filter(user_id=user.pk).update(lease_token="someone-else")
        return contact

    monkeypatch.setattr(sync_module.MeisaClient, "upsert_contact", upsert_then_lose_lease)
    version = state_of(user).version
    sync_contact_now(user.pk)
    state = state_of(user)
    # Marked pending again with the fingerprint forgotten, so the latest state is resent.
    assert state.version == version + 1
    assert state.payload_fingerprint == ""


def test_a_login_forces_one_upsert_and_later_saves_are_skipped_again(meisa_fake):
    from django_meisa.contacts.requests import request_sync

    user = make_user("loyal")
    sync_contact_now(user.pk)
    request_sync(user, login=True)
    assert sync_contact_now(user.pk).result == "synced"
    request_sync(user)
    assert sync_contact_now(user.pk).result == "unchanged"
    assert len(meisa_fake.upserts) == 2
