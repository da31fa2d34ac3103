"""QA: the API key never appears in logs, exceptions, task args, command output or admin."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db

SECRET = "sk_live_QA_SECRET_1234"
ODD_KEYS = [SECRET + "\n", " " + SECRET, SECRET + "\r\nX-Evil: 1", SECRET + "\x00", SECRET + "é"]


def make_user(name: str) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def text_of(caplog, *extra: str) -> str:
    parts = [r.getMessage() for r in caplog.records]
    parts += [repr(r.__dict__) for r in caplog.records]
    parts += [str(r.exc_info) for r in caplog.records if r.exc_info]
    import traceback

    parts += [
        "".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info
    ]
    return "\n".join(parts + list(extra))


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_not_leaked_by_refresh(everything_logged, key):
    from django_meisa.suppression import refresh_suppressions

    with override_settings(MEISA={**settings.MEISA, "API_KEY": key}):
        result = refresh_suppressions()
    assert SECRET not in text_of(everything_logged, str(result.error), repr(result))


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_not_leaked_by_refresh_command(everything_logged, key):
    out, err = io.StringIO(), io.StringIO()
    with override_settings(MEISA={**settings.MEISA, "API_KEY": key}):
        try:
            call_command("meisa_refresh_suppressions", stdout=out, stderr=err)
            message = ""
        except CommandError as error:
            message = str(error)
    assert SECRET not in text_of(everything_logged, out.getvalue(), err.getvalue(), message)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_not_leaked_by_sync(everything_logged, key):
    from django_meisa import sync_contact_now

    user = make_user("ada")
    with override_settings(MEISA={**settings.MEISA, "API_KEY": key}):
        try:
            outcome = sync_contact_now(user.pk, force=True)
            message = repr(outcome)
        except Exception as error:
            import traceback

            message = "".join(traceback.format_exception(error))
    assert SECRET not in text_of(everything_logged, message)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_not_leaked_by_meisa_sync(everything_logged, key):
    user = make_user("ada")
    out, err = io.StringIO(), io.StringIO()
    with override_settings(MEISA={**settings.MEISA, "API_KEY": key}):
        try:
            call_command("meisa_sync", str(user.pk), stdout=out, stderr=err)
            message = ""
        except CommandError as error:
            message = str(error)
    assert SECRET not in text_of(everything_logged, out.getvalue(), err.getvalue(), message)


def test_wrong_key_not_leaked_by_stats_health_admin(everything_logged, client):
    from django_meisa import sync_contact_now
    from django_meisa.stats import meisa_stats

    user = make_user("ada")
    with (
        fake_meisa(api_key="right_key"),
        override_settings(
            MEISA={**settings.MEISA, "API_KEY": SECRET, "BASE_URL": "https://api.meisa.io/api/v1"}
        ),
        contextlib.suppress(Exception),
    ):
        sync_contact_now(user.pk, force=True)
    stats = repr(meisa_stats().as_dict())
    model = get_user_model()
    fields: dict[str, Any] = {"email": "root@example.com", "password": "pw"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "root"
    client.force_login(model._default_manager.create_superuser(**fields))
    from django_meisa.models import UserSyncState

    state = UserSyncState.objects.get(user_id=user.pk)
    responses = [
        client.get(url)
        for url in (
            "/admin/django_meisa/usersyncstate/",
            f"/admin/django_meisa/usersyncstate/{state.pk}/change/",
            f"/admin/django_meisa/usersyncstate/{state.pk}/preview/",
            "/admin/django_meisa/suppressedemail/",
        )
    ]
    assert [r.status_code for r in responses] == [200] * 4
    pages = [r.content.decode() for r in responses]
    assert SECRET not in text_of(everything_logged, stats, *pages)


def test_health_checks_keyless(everything_logged):
    pytest.importorskip("health_check")
    from django_meisa import health

    texts = []
    for name in ("MeisaMirrorFresh", "MeisaSyncBacklog", "MeisaAPIKey"):
        check = getattr(health, name)()
        try:
            check.check_status() if hasattr(check, "check_status") else check.run()
        except Exception as error:
            texts.append(repr(error))
        texts.append(repr(getattr(check, "errors", "")))
    with override_settings(MEISA={**settings.MEISA, "API_KEY": SECRET}):
        assert SECRET not in text_of(everything_logged, *texts)
