"""QA: with SUPPRESSION_NEGATIVE_CACHE on, every way an address gets suppressed is seen by
the very next send in this process (the filter never hides a new entry)."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.test import override_settings
from django.utils import timezone

from django_meisa.suppression import refresh_suppressions, suppress_locally
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db(transaction=True)

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    from celery import current_app

    cache.clear()
    monkeypatch.setattr(current_app._get_current_object(), "send_task", lambda *a, **k: None)


def load(*emails: str) -> Any:
    body = {"as_of": timezone.now().isoformat(), "count": len(emails), "emails": list(emails)}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        return refresh_suppressions()


def wrapped(**extra: Any) -> override_settings:
    return override_settings(
        EMAIL_BACKEND=WRAPPER,
        MEISA={**settings.MEISA, "EMAIL_BACKEND": LOCMEM, "SUPPRESSION_NEGATIVE_CACHE": True,
               **extra},
    )  # fmt: skip


def send_to(address: str) -> set[str]:
    mail.outbox.clear()
    get_connection().send_messages([EmailMessage("S", "B", "f@example.com", [address, "ok@x.com"])])
    return {a for m in mail.outbox for a in m.recipients()}


def make_user(name: str) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


def warm() -> None:
    load(*[f"filler{i}@example.com" for i in range(50)])
    with wrapped():
        for i in range(3):
            send_to(f"warm{i}@example.com")


def test_refresh_adding_an_address():
    warm()
    with wrapped():
        assert "new@example.com" in send_to("new@example.com")
        load(*[f"filler{i}@example.com" for i in range(50)], "new@example.com")
        assert send_to("new@example.com") == {"ok@x.com"}


def test_suppress_locally():
    warm()
    with wrapped():
        assert "loc@example.com" in send_to("loc@example.com")
        suppress_locally("loc@example.com")
        assert send_to("loc@example.com") == {"ok@x.com"}


def test_admin_add(client):
    warm()
    model = get_user_model()
    fields: dict[str, Any] = {"email": "root@example.com", "password": "pw"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "root"
    client.force_login(model._default_manager.create_superuser(**fields))
    with wrapped():
        assert "adm@example.com" in send_to("adm@example.com")
        client.post("/admin/django_meisa/suppressedemail/add/", {"email": "adm@example.com"})
        assert send_to("adm@example.com") == {"ok@x.com"}


def test_upsert_status():
    from django_meisa import sync_contact_now

    warm()
    with wrapped():
        user = make_user("stat")
        assert "stat@example.com" in send_to("stat@example.com")
        with fake_meisa() as fake:
            fake.unsubscribe("stat@example.com")
            sync_contact_now(user.pk, force=True)
        assert send_to("stat@example.com") == {"ok@x.com"}


def test_deleted_user():
    warm()
    with wrapped(SUPPRESS_DELETED_USERS=True):
        user = make_user("gone")
        assert "gone@example.com" in send_to("gone@example.com")
        user.delete()
        assert send_to("gone@example.com") == {"ok@x.com"}
