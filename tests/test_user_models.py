"""Sync, backfill (inline and enqueued), the sweep and the admin with the user model in use.

Runs with Django's User by default, and with ``MEISA_TEST_USER_MODEL=uuid`` (UUID
primary key) or ``email`` (UUID primary key named ``uid``, email as ``USERNAME_FIELD``,
no name fields): CI runs this module on SQLite, PostgreSQL and MariaDB with each model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from django_meisa.contacts.sweep import sweep_pending_syncs
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.models import UserSyncState
from tests.backfill_support import assert_each_once, backfill
from tests.sync_support import state_of

pytestmark = pytest.mark.django_db(transaction=True)


def user_fields(n: int) -> dict[str, Any]:
    """The fields a user ``n`` needs, whatever the model asks for."""
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"person{n}@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = f"person{n}"
    return fields


def new_user(n: int, **extra: Any) -> Any:
    """A signup through the model's manager (post_save: a sync is requested)."""
    return get_user_model().objects.create_user(password="pw-12345", **user_fields(n), **extra)


def old_users(count: int) -> list[Any]:
    """Users created with bulk_create (no post_save), as a site's existing users are."""
    model = get_user_model()
    model.objects.bulk_create([model(**user_fields(n)) for n in range(count)])
    return list(model.objects.order_by("pk"))


@pytest.fixture
def no_publish(monkeypatch):
    """The request path publishes nothing: each test drives the sync itself."""
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **options: None)


def test_a_sync_sends_the_user_keyed_by_its_primary_key(meisa_fake, no_publish):
    user = new_user(1)
    assert sync_contact_now(user.pk).result == "synced"
    [upsert] = meisa_fake.upserts
    assert upsert["external_id"] == str(user.pk)
    assert upsert["email"] == "person1@example.com"
    state = state_of(user)
    assert state.synced_version == state.version >= 1
    user.email = "person1@example.org"
    user.save()
    sync_contact_now(user.pk)
    assert meisa_fake.upserts[-1]["email"] == "person1@example.org"


def test_an_inline_backfill_syncs_each_user_once(meisa_fake):
    users = old_users(12)
    backfill("--inline", "--chunk-size", "5")
    assert_each_once(meisa_fake, users)


def test_an_enqueued_backfill_syncs_each_user_once(meisa_fake, celery_worker_threads):
    users = old_users(12)
    backfill("--enqueue", "--chunk-size", "5")
    assert_each_once(meisa_fake, users)


def test_the_sweep_re_enqueues_a_stale_pending_user(settings, monkeypatch, no_publish):
    published: list[Any] = []
    monkeypatch.setattr("django_meisa.contacts.sweep.publish_syncs", published.extend)
    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 60}
    user, _fresh = new_user(1), new_user(2)
    since = timezone.now() - dt.timedelta(seconds=120)
    UserSyncState.objects.filter(user=user).update(pending_since=since)
    assert sweep_pending_syncs() == 1
    assert published == [user.pk]


def test_the_admin_lists_the_user_and_syncs_it_now(client, meisa_fake, no_publish):
    admin = get_user_model().objects.create_superuser(password="pw-12345", **user_fields(99))
    client.force_login(admin)
    user = new_user(1)
    state = state_of(user)
    changelist = client.get(reverse("admin:django_meisa_usersyncstate_changelist"))
    assert changelist.status_code == 200
    assert b"person1@example.com" in changelist.content or str(user.pk).encode() in (
        changelist.content
    )
    page = client.get(reverse("admin:django_meisa_usersyncstate_change", args=[state.pk]))
    assert page.status_code == 200
    url = reverse("admin:django_meisa_usersyncstate_sync", args=[state.pk])
    assert client.post(url, follow=True).status_code == 200
    assert [u["external_id"] for u in meisa_fake.upserts] == [str(user.pk)]
