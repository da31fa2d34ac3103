"""QA: #14 related models, login and deleted users, end to end with the fake Meisa."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.test import RequestFactory, override_settings

from django_meisa import sync_contact_now
from django_meisa.signals import user_deleted
from django_meisa.testing import fake_meisa
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, Any, Any]]:
    calls: list[tuple[str, Any, Any]] = []
    app = current_app._get_current_object()

    def send_task(name, args=(), kwargs=None, **options):
        calls.append((name, tuple(args or ()), kwargs or {}))

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


def make_user(name: str, **extra: Any) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com", **extra}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


def meisa(**extra: Any) -> override_settings:
    return override_settings(MEISA={**settings.MEISA, **extra})


def synced_pks(published: list[tuple[str, Any, Any]]) -> list[str]:
    return [str(args[0]) for name, args, _ in published if name.endswith("sync_contact") and args]


def test_profile_save_and_delete_sync_the_user(published):
    with meisa(CUSTOM_FIELDS={"plan": "profile.plan"}):
        user = make_user("ada")
        published.clear()
        profile = Profile.objects.create(user=user, plan="pro")
        assert synced_pks(published) == [str(user.pk)]
        published.clear()
        profile.delete()
        assert synced_pks(published) == [str(user.pk)]
        with fake_meisa() as fake:
            sync_contact_now(user.pk)
    assert fake.contact("ada@example.com")["custom_fields"].get("plan") in (None, "", "free")


def test_user_delete_cascading_to_profile_syncs_nobody(published):
    with meisa(CUSTOM_FIELDS={"plan": "profile.plan"}):
        user = make_user("ada")
        Profile.objects.create(user=user, plan="pro")
        published.clear()
        user.delete()
    assert synced_pks(published) == []


def test_profile_of_ineligible_user_sends_nothing(published):
    with meisa(CUSTOM_FIELDS={"plan": "profile.plan"}, SYNC_USERS_FILTER={"is_staff": False}):
        user = make_user("root", is_staff=True)
        Profile.objects.create(user=user, plan="pro")
        with fake_meisa() as fake:
            for pk in set(synced_pks(published)):
                sync_contact_now(pk)
            sync_contact_now(user.pk, force=True)
    assert fake.upserts == []


def test_login_of_ineligible_user_sends_nothing(published):
    with meisa(SYNC_USERS_FILTER={"is_active": True}, SYNC_LOGIN_DELAY=0):
        user = make_user("ada")
        type(user)._default_manager.filter(pk=user.pk).update(is_active=False)
        user.refresh_from_db()
        request = RequestFactory().get("/")
        user_logged_in.send(sender=type(user), request=request, user=user)
        with fake_meisa() as fake:
            for pk in set(synced_pks(published)):
                sync_contact_now(pk)
    assert fake.upserts == []


def test_deleted_user_with_unkeyable_email_still_deletes_and_signals(published):
    seen: list[dict[str, Any]] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    user_deleted.connect(receiver)
    try:
        with meisa(SUPPRESS_DELETED_USERS=True, DELETED_USER_TAG="account-deleted"):
            user = make_user("bad..dots")
            pk = user.pk
            user.delete()
    finally:
        user_deleted.disconnect(receiver)
    assert not get_user_model()._default_manager.filter(pk=pk).exists()
    assert len(seen) == 1


def test_deleted_user_tag_upsert_runs_from_published_task(published):
    from django_meisa import tasks  # the entry point a worker runs

    with meisa(DELETED_USER_TAG="account-deleted"):
        user = make_user("ada")
        with fake_meisa() as fake:
            sync_contact_now(user.pk)
        published.clear()
        user.delete()
        deletion_tasks = [(n, a, k) for n, a, k in published if "delet" in n]
        assert deletion_tasks, published
        name, args, kwargs = deletion_tasks[0]
        with fake_meisa(fake=fake):
            getattr(tasks, name.rsplit(".", 1)[1]).apply(args=args, kwargs=kwargs)
    last = fake.upserts[-1]
    assert last["email"] == "ada@example.com"
    assert "account-deleted" in last.get("tag_names", [])
    assert set(last) <= {"email", "external_id", "tag_names", "source"}  # no personal fields
