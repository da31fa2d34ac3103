"""QA (#13): a sync that keeps failing retryably is marked failed after
SYNC_GIVE_UP_AFTER_SWEEPS cycles, with the signal, and retried when the user changes."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from django_meisa import tasks
from django_meisa.signals import contact_sync_failed
from django_meisa.stats import meisa_stats
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db(transaction=True)


def test_retryable_failure_gives_up_then_retries_on_change(monkeypatch):
    published: list[Any] = []
    monkeypatch.setattr(
        current_app._get_current_object(),
        "send_task",
        lambda name, args=(), kwargs=None, **kw: published.append((name, args)),
    )
    seen: list[dict[str, Any]] = []

    def on_failed(sender, **kwargs):
        seen.append(kwargs)

    contact_sync_failed.connect(on_failed)
    model = get_user_model()
    fields: dict[str, Any] = {"email": "ada@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "ada"
    options = {"SYNC_MAX_RETRIES": 0, "SYNC_GIVE_UP_AFTER_SWEEPS": 2, "SWEEP_AFTER": 0}
    try:
        with override_settings(MEISA={**settings.MEISA, **options}), fake_meisa() as fake:
            user = model._default_manager.create_user(**fields)
            fake.inject_fault("server_error", times=1000)
            for _ in range(6):
                tasks.sync_contact.apply(args=(user.pk,))
                call_command("meisa_sweep", verbosity=0)
                if any(e["retryable"] is False for e in seen):
                    break
            assert any(e["retryable"] is False for e in seen), seen
            assert meisa_stats().failed == 1
            fake.clear_faults()
            user.first_name = "Changed"
            user.save()
            tasks.sync_contact.apply(args=(user.pk,))
        assert fake.contact("ada@example.com") is not None
        assert meisa_stats().failed == 0
    finally:
        contact_sync_failed.disconnect(on_failed)
