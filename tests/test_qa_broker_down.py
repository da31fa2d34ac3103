"""QA: a request never fails or stalls because the broker is down, and its password never
reaches the logs (PUBLISH_MODE inline and background)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "brokerS3cretPW"


@pytest.fixture
def dead_broker():
    from celery import current_app

    previous = current_app._get_current_object()
    app = Celery("qa_dead", broker=f"amqp://guest:{PASSWORD}@127.0.0.1:1//")
    app.conf.broker_connection_timeout = 1
    app.set_current()
    yield app
    previous.set_current()


def make_user(name: str) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


@pytest.mark.parametrize("mode", ["inline", "background"])
def test_save_with_broker_down_is_fast_and_logs_no_password(dead_broker, caplog, mode):
    caplog.set_level(logging.DEBUG)
    with override_settings(MEISA={**settings.MEISA, "PUBLISH_MODE": mode}):
        started = time.monotonic()
        user = make_user("ada")
        user.first_name = "Ada"
        user.save()
        elapsed = time.monotonic() - started
        time.sleep(2 if mode == "background" else 0)
    assert elapsed < 3, elapsed
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # it did fail
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert PASSWORD not in text
    assert "ada@example.com" not in "\n".join(
        r.getMessage() for r in caplog.records if r.levelno == logging.INFO
    )


def test_never_loaded_self_heal_with_broker_down_does_not_stall(dead_broker, caplog):
    from django.core import mail
    from django.core.cache import cache
    from django.core.mail import EmailMessage, get_connection

    cache.clear()
    caplog.set_level(logging.DEBUG)
    wrapped = {**settings.MEISA, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    with override_settings(
        EMAIL_BACKEND="django_meisa.backends.SuppressionEmailBackend", MEISA=wrapped
    ):
        started = time.monotonic()
        sent = get_connection(fail_silently=True).send_messages(
            [EmailMessage("S", "B", "f@example.com", ["a@example.com"])]
        )
        elapsed = time.monotonic() - started
    time.sleep(2)
    assert sent == 0
    assert mail.outbox == []
    assert elapsed < 1, elapsed
    assert any("refresh" in r.getMessage() for r in caplog.records)
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert PASSWORD not in text
