"""Deleted users: user_deleted after the commit only; the opt-in final tagged upsert, durable."""

from __future__ import annotations

import pytest
from django.db import transaction

from django_meisa.contacts.deletion import send_deletion_upsert, sweep_deletions
from django_meisa.exceptions import MeisaServerError
from django_meisa.models import PendingDeletion, UserSyncState
from django_meisa.signals import user_deleted
from tests.sync_support import make_user
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_sync_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


@pytest.fixture
def tasks(monkeypatch):
    """Tasks published by name: (name, args)."""
    sent: list = []
    monkeypatch.setattr(
        "django_meisa.contacts.deletion.publish_task",
        lambda name, args, **options: sent.append((name, args)),
    )
    return sent


@pytest.fixture
def received():
    calls: list = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    user_deleted.connect(receiver)
    yield calls
    user_deleted.disconnect(receiver)


def synced_user(settings, meisa_fake, **extra):
    settings.MEISA = {**settings.MEISA, **extra}
    user = make_user("ada")
    from django_meisa.contacts.worker import sync_contact_now

    sync_contact_now(user.pk)
    return user


def test_the_signal_carries_pk_email_contact_id_and_external_id(settings, meisa_fake, received):
    user = synced_user(settings, meisa_fake, EXTERNAL_ID_FIELD="profile.referral_source")
    Profile.objects.create(user=user, referral_source="usr_1")
    contact_id = UserSyncState.objects.get(user=user).contact_id
    pk = user.pk
    user.delete()
    assert received == [
        {
            "signal": user_deleted,
            "user_pk": pk,
            "email": "ada@example.com",
            "contact_id": contact_id,
            "external_id": "usr_1",  # read before the cascade removed the profile
        }
    ]
    assert contact_id


def test_a_rolled_back_delete_sends_nothing_and_keeps_no_row(settings, received, tasks):
    settings.MEISA = {**settings.MEISA, "DELETED_USER_TAG": "account-deleted"}
    user = make_user("ada")
    seen_inside = []
    with pytest.raises(RuntimeError, match="rollback"):
        rolled_back_delete(user, received, seen_inside)
    assert seen_inside == [[]]  # nothing before the commit
    assert received == []
    assert tasks == []
    assert not PendingDeletion.objects.exists()


def test_the_final_upsert_adds_the_tag_and_forgets_the_address(settings, meisa_fake, tasks):
    user = synced_user(settings, meisa_fake, DELETED_USER_TAG="account-deleted")
    pk = user.pk
    user.delete()
    [(name, args)] = tasks
    assert name == "django_meisa.tasks.send_deletion_upsert"
    assert args == (PendingDeletion.objects.get().pk,)  # no personal data in the args
    assert send_deletion_upsert(*args) == "sent"
    last = meisa_fake.upserts[-1]
    assert last["tag_names"] == ["account-deleted"]
    assert last["email"] == "ada@example.com"
    assert last["external_id"] == str(pk)
    assert "custom_fields" not in last
    tags = [t["name"] for t in meisa_fake.contact("ada@example.com")["tags"]]
    assert "account-deleted" in tags
    assert not PendingDeletion.objects.exists()
    assert send_deletion_upsert(*args) == "gone"


def test_a_retryable_failure_keeps_the_row_for_a_retry_and_the_sweep(settings, meisa_fake, tasks):
    user = synced_user(settings, meisa_fake, DELETED_USER_TAG="account-deleted", SWEEP_AFTER=0)
    user.delete()
    meisa_fake.inject_fault("server_error", times=1)
    with pytest.raises(MeisaServerError) as caught:
        send_deletion_upsert(tasks[0][1][0])
    assert caught.value.retryable
    row = PendingDeletion.objects.get()
    assert row.attempts == 1
    assert "MeisaServerError" in row.last_error
    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 0}
    PendingDeletion.objects.update(last_attempt_at=None)
    assert sweep_deletions() == 1
    assert send_deletion_upsert(row.pk) == "sent"


def rolled_back_delete(user, received, seen_inside):
    with transaction.atomic():
        user.delete()
        seen_inside.append(list(received))
        raise RuntimeError("rollback")


def test_no_tag_no_row(settings, tasks):
    make_user("ada").delete()
    assert tasks == []
    assert not PendingDeletion.objects.exists()
