"""Operator features with the user model in use (MEISA_TEST_USER_MODEL=uuid or email too).

meisa_sync by primary key and email, the admin preview, who is synced, and a deleted
user's signal and final tagged upsert, whatever the user model's key and fields are.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from django_meisa.contacts.deletion import send_deletion_upsert
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.models import MeisaSyncResult, PendingDeletion
from django_meisa.signals import user_deleted
from tests.sync_support import state_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)
    monkeypatch.setattr("django_meisa.contacts.deletion.publish_task", lambda *a, **kw: None)


def new_user(n: int, **extra: Any) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"person{n}@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = f"person{n}"
    return model.objects.create_user(password="pw-12345", **fields, **extra)


def test_meisa_sync_by_pk_and_email(meisa_fake):
    one, two = new_user(1), new_user(2)
    out = StringIO()
    call_command("meisa_sync", str(one.pk), "person2@example.com", stdout=out)
    assert f"user pk={one.pk}: synced" in out.getvalue()
    assert f"user pk={two.pk}: synced" in out.getvalue()
    assert [u["external_id"] for u in meisa_fake.upserts] == [str(one.pk), str(two.pk)]


def test_the_admin_preview(client, meisa_fake):
    model = get_user_model()
    login = {} if model.USERNAME_FIELD == "email" else {model.USERNAME_FIELD: "root"}
    admin = model.objects.create_superuser(password="pw", email="root@example.com", **login)
    client.force_login(admin)
    user = new_user(1)
    url = reverse("admin:django_meisa_usersyncstate_preview", args=[state_of(user).pk])
    page = client.get(url)
    assert page.status_code == 200
    assert f"&quot;external_id&quot;: &quot;{user.pk}&quot;".encode() in page.content


def test_who_is_synced(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "SYNC_USERS_FILTER": {"is_active": True}}
    gone = new_user(1, is_active=False)
    assert sync_contact_now(gone.pk).result == MeisaSyncResult.SKIPPED_INELIGIBLE
    assert meisa_fake.upserts == []


def test_a_deleted_user(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "DELETED_USER_TAG": "account-deleted"}
    user = new_user(1)
    sync_contact_now(user.pk)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    user_deleted.connect(receiver)
    try:
        pk = user.pk
        user.delete()
    finally:
        user_deleted.disconnect(receiver)
    assert seen[0]["user_pk"] == pk
    assert seen[0]["external_id"] == str(pk)
    assert send_deletion_upsert(PendingDeletion.objects.get().pk) == "sent"
    assert meisa_fake.upserts[-1]["tag_names"] == ["account-deleted"]
