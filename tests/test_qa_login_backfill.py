"""QA (#13): a backfill that finds a payload unchanged never swallows a pending login's upsert."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.core.management import call_command
from django.test import RequestFactory, override_settings

from django_meisa import sync_contact_now, tasks
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_upsert_survives_a_backfill(monkeypatch):
    published: list[tuple[str, Any, Any]] = []
    monkeypatch.setattr(
        current_app._get_current_object(),
        "send_task",
        lambda name, args=(), kwargs=None, **kw: published.append((name, args, kwargs or {})),
    )
    model = get_user_model()
    fields: dict[str, Any] = {"email": "ada@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "ada"
    with override_settings(MEISA={**settings.MEISA, "SYNC_LOGIN_DELAY": 0}), fake_meisa() as fake:
        user = model._default_manager.create_user(**fields)
        sync_contact_now(user.pk)
        before = len(fake.upserts)
        published.clear()
        user_logged_in.send(sender=type(user), request=RequestFactory().get("/"), user=user)
        assert any(name.endswith(".sync_contact") for name, _, _ in published)
        call_command("meisa_backfill", "--inline", verbosity=0)
        for name, args, kwargs in published:
            if name.endswith(".sync_contact"):
                tasks.sync_contact.apply(args=args, kwargs=kwargs)
    assert len(fake.upserts) >= before + 1
