"""The freshness policy: a never-loaded or stale mirror never filters silently."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from celery import current_app
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.test import override_settings
from django.utils import timezone

from django_meisa.exceptions import (
    MeisaSuppressionNotLoaded,
    MeisaSuppressionStale,
    MeisaSuppressionUnavailable,
)
from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.signals import suppression_stale
from django_meisa.suppression import freshness, heal

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def meisa(**extra: Any) -> override_settings:
    from django.conf import settings

    return override_settings(MEISA={**settings.MEISA, "EMAIL_BACKEND": LOCMEM, **extra})


def send(*messages: EmailMessage, **options: Any) -> int:
    return get_connection(WRAPPER, **options).send_messages(list(messages))


def msg(*to: str) -> EmailMessage:
    return EmailMessage("Subject", "Body", "from@example.com", list(to))


@pytest.fixture(autouse=True)
def published(monkeypatch) -> list[str]:
    """Record the tasks the backend publishes (by name), instead of a broker."""
    cache.delete(heal.CACHE_KEY)
    names: list[str] = []
    app = current_app._get_current_object()
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: names.append(name))
    return names


@pytest.fixture
def join_requests(monkeypatch) -> None:
    """Run each refresh request's publishing thread to completion before going on."""
    original = heal.request_refresh

    def joined() -> Any:
        thread = original()
        if thread is not None:
            thread.join(5)
        return thread

    monkeypatch.setattr("django_meisa.suppression.backend.request_refresh", joined)


def set_last_success(ago: dt.timedelta | None) -> None:
    when = None if ago is None else timezone.now() - ago
    SuppressionRefreshState.objects.update_or_create(
        pk=SuppressionRefreshState.SINGLETON_PK, defaults={"last_success_at": when}
    )
    freshness.forget_freshness()


# Never loaded ---------------------------------------------------------------------------


@pytest.mark.parametrize("state_row", [False, True])
def test_a_never_loaded_mirror_sends_nothing_and_says_how_to_fix_it(state_row, caplog):
    if state_row:
        set_last_success(None)  # a row from failed attempts only
    with meisa(), pytest.raises(MeisaSuppressionNotLoaded) as raised:
        send(msg("ada@example.com"))
    assert mail.outbox == []
    assert isinstance(raised.value, MeisaSuppressionUnavailable)
    assert "manage.py meisa_refresh_suppressions" in str(raised.value)
    assert "beat" in str(raised.value)
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_never_loaded_with_fail_silently_sends_nothing_and_returns_zero():
    with meisa():
        assert send(msg("ada@example.com"), fail_silently=True) == 0
    assert mail.outbox == []


def test_fail_open_sends_while_never_loaded_but_still_drops_local_entries(caplog):
    SuppressedEmail.objects.create(email="local@example.com", source="local")
    SuppressedEmail.objects.create(email="reported@example.com", reported_at=timezone.now())
    with meisa(SUPPRESSION_FAIL_OPEN=True):
        assert send(msg("ada@example.com"), msg("local@example.com", "reported@example.com")) == 1
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert "never been loaded" in caplog.text


def test_a_bypassed_message_is_sent_while_the_rest_of_the_batch_is_held():
    bypassed = msg("ada@example.com")
    bypassed.meisa_bypass_suppression = "password reset"
    with meisa(SUPPRESSION_ALLOW_BYPASS=True), pytest.raises(MeisaSuppressionNotLoaded):
        send(bypassed, msg("bob@example.com"))
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_admin_input_is_dropped_in_every_state():
    SuppressedEmail.objects.create(email="local@example.com", source="local")
    for ago in (None, dt.timedelta(days=30), dt.timedelta(seconds=1)):
        set_last_success(ago)
        with meisa(SUPPRESSION_FAIL_OPEN=True):
            send(msg("Local <LOCAL@example.com>"))
    assert mail.outbox == []


# Stale -------------------------------------------------------------------------------


def test_a_stale_mirror_sends_filtered_and_reports_once_per_process(caplog):
    set_last_success(dt.timedelta(hours=5))
    SuppressedEmail.objects.create(email="bad@example.com")
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    suppression_stale.connect(receiver)
    try:
        with meisa():
            for _ in range(3):
                assert send(msg("ada@example.com", "bad@example.com")) == 1
    finally:
        suppression_stale.disconnect(receiver)
    assert all(m.to == ["ada@example.com"] for m in mail.outbox)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "stale" in errors[0].getMessage()
    assert len(seen) == 1
    assert seen[0]["loaded"] is True
    assert seen[0]["age"] > 4 * 3600
    assert seen[0]["max_age"] == 3600  # 4 x the default 900 s refresh interval


def test_the_raise_policy_sends_nothing_from_a_stale_mirror():
    set_last_success(dt.timedelta(hours=5))
    with meisa(SUPPRESSION_STALE_POLICY="raise"), pytest.raises(MeisaSuppressionStale):
        send(msg("ada@example.com"))
    assert mail.outbox == []


def test_max_age_setting_decides_what_is_stale():
    set_last_success(dt.timedelta(minutes=10))
    with meisa(SUPPRESSION_STALE_POLICY="raise", SUPPRESSION_MAX_AGE=1200):
        assert send(msg("ada@example.com")) == 1
    strict = {"SUPPRESSION_STALE_POLICY": "raise"}
    with meisa(**strict, SUPPRESSION_MAX_AGE=300), pytest.raises(MeisaSuppressionStale):
        send(msg("ada@example.com"))
    # None (the default): 4 x the refresh interval
    with meisa(**strict, SUPPRESSION_REFRESH_INTERVAL=60), pytest.raises(MeisaSuppressionStale):
        send(msg("ada@example.com"))


# Cost and self-healing ----------------------------------------------------------------


def test_the_freshness_check_adds_no_query_per_message(django_assert_num_queries):
    set_last_success(dt.timedelta(seconds=1))
    with meisa():
        with django_assert_num_queries(2):  # the state, once, then the lookup
            send(msg("ada@example.com"))
        for _ in range(5):
            with django_assert_num_queries(1):  # the lookup only
                send(msg("ada@example.com"))


@pytest.mark.usefixtures("join_requests")
def test_one_refresh_is_requested_by_name_however_busy_the_site(published):
    with meisa(SUPPRESSION_FAIL_OPEN=True):
        for _ in range(50):
            send(msg("ada@example.com"))
        freshness.forget_freshness()  # another process of the same site: the cache dedups
        send(msg("ada@example.com"))
    assert published == ["django_meisa.tasks.refresh_suppressed_emails"]


@pytest.mark.usefixtures("join_requests")
def test_a_stale_mirror_requests_a_refresh_too(published):
    set_last_success(dt.timedelta(hours=5))
    with meisa():
        send(msg("ada@example.com"))
    assert published == [heal.REFRESH_TASK]


@pytest.mark.usefixtures("join_requests")
def test_a_fresh_mirror_requests_nothing(published, loaded_mirror):
    with meisa():
        send(msg("ada@example.com"))
    assert published == []


@pytest.mark.usefixtures("join_requests")
def test_a_down_broker_never_fails_the_send(monkeypatch, caplog):
    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("amqp://guest:secret@broker")

    monkeypatch.setattr(current_app._get_current_object(), "send_task", down)
    with meisa(SUPPRESSION_FAIL_OPEN=True):
        assert send(msg("ada@example.com")) == 1
    assert "Could not enqueue a suppression refresh (ConnectionRefusedError)" in caplog.text
    assert "secret" not in caplog.text


def test_a_refresh_is_seen_by_the_next_send_within_seconds(meisa_fake):
    from django_meisa.suppression import refresh_suppressions

    with meisa(), pytest.raises(MeisaSuppressionNotLoaded):
        send(msg("ada@example.com"))
    meisa_fake.add_unsubscribed("bad@example.com")
    assert refresh_suppressions().ok  # in this process: the cached reading is dropped
    with meisa():
        assert send(msg("ada@example.com"), msg("bad@example.com")) == 1


@pytest.mark.usefixtures("join_requests")
def test_a_disabled_integration_requests_nothing_and_says_why(published):
    with meisa(ENABLED=False), pytest.raises(MeisaSuppressionNotLoaded, match="ENABLED"):
        send(msg("ada@example.com"))
    assert published == []


def test_check_an_address_says_when_the_mirror_cannot_be_trusted():
    from django_meisa.suppression import explain_address

    assert "never been loaded" in explain_address("ada@example.com").why
    set_last_success(dt.timedelta(hours=5))
    assert "stale" in explain_address("ada@example.com").why
    set_last_success(dt.timedelta(seconds=1))
    assert explain_address("ada@example.com").why == "No suppression entry: it is sent."


def test_a_batch_of_bypassed_messages_alone_is_sent_without_an_error():
    bypassed = msg("ada@example.com")
    bypassed.meisa_bypass_suppression = "password reset"
    with meisa(SUPPRESSION_ALLOW_BYPASS=True):
        assert send(bypassed) == 1  # nothing held back: nothing to raise about
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_a_batch_whose_only_recipient_is_suppressed_locally_raises_nothing():
    SuppressedEmail.objects.create(email="local@example.com", source="local")
    with meisa():
        assert send(msg("local@example.com")) == 0  # dropped in every state, none held
    assert mail.outbox == []
