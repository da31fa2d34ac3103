"""QA (#14): the django-health-check checks through their public run() and the fake Meisa."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

pytest.importorskip("health_check")

import contextlib

from health_check.exceptions import ServiceUnavailable

from django_meisa import health, sync_contact_now
from django_meisa.suppression import refresh_suppressions
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


def fails(check: Any) -> bool:
    try:
        check.run()
    except ServiceUnavailable:
        return True
    return False


def test_mirror_check_never_loaded_then_fresh():
    assert fails(health.MeisaMirrorFresh())
    body = {"as_of": timezone.now().isoformat(), "count": 0, "emails": []}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        refresh_suppressions()
    assert not fails(health.MeisaMirrorFresh())


def test_api_key_check_fails_after_401_and_recovers_after_success():
    model = get_user_model()
    fields: dict[str, Any] = {"email": "ada@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "ada"
    user = model._default_manager.create_user(**fields)
    assert not fails(health.MeisaAPIKey())
    with (
        fake_meisa(api_key="right_key"),
        override_settings(
            MEISA={
                **settings.MEISA,
                "API_KEY": "wrong_key",
                "BASE_URL": "https://api.meisa.io/api/v1",
            }
        ),
        contextlib.suppress(Exception),
    ):
        sync_contact_now(user.pk, force=True)
    assert fails(health.MeisaAPIKey())
    with fake_meisa():
        sync_contact_now(user.pk, force=True)
    assert not fails(health.MeisaAPIKey())


def test_backlog_check_thresholds():
    model = get_user_model()
    for i in range(3):
        fields: dict[str, Any] = {"email": f"u{i}@example.com"}
        if model.USERNAME_FIELD != "email":
            fields[model.USERNAME_FIELD] = f"u{i}"
        model._default_manager.create_user(**fields)
    with override_settings(MEISA={**settings.MEISA, "HEALTH_MAX_PENDING": 1}):
        assert fails(health.MeisaSyncBacklog())
    with override_settings(MEISA={**settings.MEISA, "HEALTH_MAX_PENDING": 100}):
        assert not fails(health.MeisaSyncBacklog())
