"""Contact sync end to end through a REAL Celery worker (2 threads, memory broker)."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from tests.sync_support import make_user, settled, state_of, wait_until
from tests.testapp.models import Profile, Subscription

pytestmark = pytest.mark.usefixtures("celery_worker_threads", "transactional_db")


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"plan": "profile.plan", "subscriptions": "subscriptions.count"},
        "SYNC_RETRY_BACKOFF": 0.01,
        "SYNC_RETRY_BACKOFF_MAX": 0.05,
        "SYNC_TRIGGERS": {"testapp.Subscription": "user"},
        "SYNC_LOGIN_DELAY": 0.1,
    }


def test_create_sends_signup_then_update_sends_api(meisa_fake):
    user = make_user("ada")
    wait_until(lambda: len(meisa_fake.upserts) == 1)
    assert meisa_fake.upserts[0]["source"] == "signup"
    assert meisa_fake.upserts[0]["external_id"] == str(user.pk)
    user.first_name = "Ada"
    user.save()
    wait_until(lambda: len(meisa_fake.upserts) == 2)
    assert meisa_fake.upserts[1]["source"] == "api"
    assert meisa_fake.contact("ada@example.com")["first_name"] == "Ada"
    wait_until(lambda: settled(user))
    assert state_of(user).signup_pending is False


def test_rollback_sends_nothing(meisa_fake):
    with transaction.atomic():
        make_user("ghost")
        transaction.set_rollback(True)
    time.sleep(0.3)
    assert meisa_fake.requests == []
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_ten_saves_in_one_transaction_send_one_upsert(meisa_fake):
    with transaction.atomic():
        user = make_user("ten")
        for n in range(10):
            user.last_name = f"Save {n}"
            user.save()
    wait_until(lambda: settled(user))
    time.sleep(0.2)
    assert len(meisa_fake.upserts) == 1
    assert meisa_fake.upserts[0]["last_name"] == "Save 9"
    assert meisa_fake.upserts[0]["source"] == "signup"


def test_login_through_the_admin_sends_exactly_one_upsert(client, meisa_fake, settings):
    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"last_active": "last_login"}}
    user = make_user("staff", is_staff=True)
    wait_until(lambda: len(meisa_fake.upserts) == 1 and settled(user))
    response = client.post(
        "/admin/login/", {"username": "staff", "password": "pw-12345", "next": "/admin/"}
    )
    assert response.status_code == 302
    wait_until(lambda: len(meisa_fake.upserts) == 2 and settled(user))
    time.sleep(0.3)
    assert len(meisa_fake.upserts) == 2
    assert meisa_fake.upserts[1]["custom_fields"]["last_active"].endswith("Z")
    assert meisa_fake.upserts[1]["source"] == "api"


@pytest.mark.parametrize("atomic_requests", [True, False])
def test_login_with_and_without_atomic_requests_is_one_upsert(
    client, meisa_fake, settings, monkeypatch, atomic_requests
):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", atomic_requests)
    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"last_active": "last_login"}}
    user = make_user("staff", is_staff=True)
    wait_until(lambda: settled(user) and len(meisa_fake.upserts) == 1)
    before = state_of(user).version
    client.post("/admin/login/", {"username": "staff", "password": "pw-12345"})
    wait_until(lambda: len(meisa_fake.upserts) == 2 and settled(user))
    time.sleep(0.3)
    assert len(meisa_fake.upserts) == 2
    # The login's post_save and user_logged_in were folded into one request.
    assert state_of(user).version == before + 1


def test_login_is_ignored_when_sync_on_login_is_off(client, meisa_fake, settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"last_active": "last_login"},
        "SYNC_ON_LOGIN": False,
    }
    user = make_user("staff", is_staff=True)
    wait_until(lambda: settled(user) and len(meisa_fake.upserts) == 1)
    client.post("/admin/login/", {"username": "staff", "password": "pw-12345"})
    time.sleep(0.3)
    assert len(meisa_fake.upserts) == 1


def test_unchanged_payload_sends_no_request(meisa_fake):
    user = make_user("same")
    wait_until(lambda: settled(user) and len(meisa_fake.upserts) == 1)
    user.save()
    wait_until(lambda: settled(user) and state_of(user).last_result == "unchanged")
    assert len(meisa_fake.requests) == 1


def test_trigger_model_save_and_delete_sync_its_user(meisa_fake):
    user = make_user("payer")
    Profile.objects.create(user=user, plan="free")
    wait_until(lambda: settled(user) and meisa_fake.upserts)
    subscription = Subscription.objects.create(user=user, plan="pro")
    wait_until(
        lambda: (
            (meisa_fake.contact("payer@example.com") or {})
            .get("custom_fields", {})
            .get("subscriptions")
            == 1
        )
    )
    subscription.delete()
    wait_until(
        lambda: meisa_fake.contact("payer@example.com")["custom_fields"]["subscriptions"] == 0
    )


def test_server_errors_three_times_then_success(meisa_fake):
    meisa_fake.inject_fault("server_error", times=3, status=503)
    user = make_user("flaky")
    wait_until(lambda: len(meisa_fake.upserts) == 1 and settled(user))
    assert [r.status for r in meisa_fake.requests] == [503, 503, 503, 200]
    state = state_of(user)
    assert (state.last_result, state.attempts, state.last_error) == ("synced", 0, "")
    assert meisa_fake.upserts[0]["source"] == "signup"


def test_rate_limit_waits_for_retry_after_then_syncs(meisa_fake):
    meisa_fake.inject_fault("rate_limit", retry_after=1)
    started = time.monotonic()
    user = make_user("busy")
    wait_until(lambda: len(meisa_fake.upserts) == 1 and settled(user))
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in meisa_fake.requests] == [429, 200]


def test_unauthorized_is_not_retried_and_is_recorded(meisa_fake, caplog):
    from django_meisa.signals import contact_sync_failed

    failures = []

    def receiver(sender, **kwargs):
        failures.append(kwargs)

    contact_sync_failed.connect(receiver)
    try:
        meisa_fake.inject_fault("server_error", times=5, status=401)
        user = make_user("denied")
        wait_until(lambda: state_of(user).last_result == "failed_permanent")
        time.sleep(0.3)
    finally:
        contact_sync_failed.disconnect(receiver)
    assert [r.status for r in meisa_fake.requests] == [401]
    state = state_of(user)
    assert state.failed_version == state.version
    assert state.attempts == 1
    assert "HTTP 401" in state.last_error
    assert [f["retryable"] for f in failures] == [False]
    errors = [
        r
        for r in caplog.records
        if r.name == "django_meisa.contacts.worker" and r.levelname == "ERROR"
    ]
    assert len(errors) == 1
    assert f"pk={user.pk}" in errors[0].getMessage()
    assert "denied@example.com" not in caplog.text


def test_broker_down_at_enqueue_then_the_sweep_syncs(
    meisa_fake, settings, celery_app_for_tests, caplog
):
    from celery import Celery

    from django_meisa.contacts.sweep import sweep_pending_syncs

    # A broker that refuses connections: port 1 on localhost.
    down = Celery("broker_down", broker="amqp://guest:secret-pw@127.0.0.1:1//")
    down.set_current()
    try:
        started = time.monotonic()
        user = make_user("offline")
        elapsed = time.monotonic() - started
    finally:
        celery_app_for_tests.set_current()
    assert elapsed < 1.0
    assert state_of(user).is_pending
    assert state_of(user).signup_pending is True
    assert meisa_fake.requests == []
    warnings = [
        r.getMessage() for r in caplog.records if r.name.startswith("django_meisa.contacts")
    ]
    assert len(warnings) == 1
    assert str(user.pk) in warnings[0]
    assert "secret-pw" not in caplog.text
    assert "offline@example.com" not in caplog.text

    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 0}
    assert sweep_pending_syncs() == 1
    wait_until(lambda: settled(user) and meisa_fake.upserts)
    assert meisa_fake.upserts[0]["source"] == "signup"
    assert sweep_pending_syncs() == 0


def test_the_api_key_and_personal_data_stay_out_of_logs_and_task_messages(meisa_fake, caplog):
    from celery.signals import before_task_publish

    messages = []

    def capture(sender=None, body=None, headers=None, **kwargs):
        messages.append(repr((body, headers)))

    before_task_publish.connect(capture)
    caplog.set_level("DEBUG")
    try:
        meisa_fake.inject_fault("server_error", times=1)
        user = make_user("secretive")
        wait_until(lambda: settled(user) and meisa_fake.upserts)
        meisa_fake.inject_fault("server_error", times=3, status=401)
        user.first_name = "Changed"
        user.save()
        wait_until(lambda: state_of(user).last_result == "failed_permanent")
    finally:
        before_task_publish.disconnect(capture)
    assert messages, "no task was published"
    for text in (caplog.text, *messages, state_of(user).last_error):
        assert "meisa_test_key" not in text
        assert "secretive@example.com" not in text
    assert all(f"({user.pk},)" in message for message in messages)


def test_exhausted_retries_leave_the_user_pending_for_the_sweep(meisa_fake, settings):
    from django_meisa.contacts.sweep import sweep_pending_syncs
    from django_meisa.signals import contact_sync_failed

    settings.MEISA = {**settings.MEISA, "SYNC_MAX_RETRIES": 2}
    failures = []

    def receiver(sender, **kwargs):
        failures.append(kwargs)

    contact_sync_failed.connect(receiver)
    try:
        meisa_fake.inject_fault("server_error", times=5, status=502)
        user = make_user("outage")
        wait_until(lambda: failures)
    finally:
        contact_sync_failed.disconnect(receiver)
    assert len(meisa_fake.requests) == 3  # the first try and 2 retries
    assert [f["retryable"] for f in failures] == [True]
    state = state_of(user)
    assert state.is_pending
    assert (state.attempts, state.last_result) == (3, "failed_retryable")
    settings.MEISA = {**settings.MEISA, "SWEEP_AFTER": 0}
    assert sweep_pending_syncs() == 1
    wait_until(lambda: settled(user) and meisa_fake.upserts)
    assert len(meisa_fake.requests) == 6


def test_a_login_upserts_once_even_when_nothing_mapped_changed(client, meisa_fake):
    # The autouse settings map no login field: the payload is the same before and after.
    user = make_user("plain", is_staff=True)
    wait_until(lambda: settled(user) and len(meisa_fake.upserts) == 1)
    user.save()  # a save that changes nothing Meisa sees costs no request...
    wait_until(lambda: settled(user) and state_of(user).last_result == "unchanged")
    client.post("/admin/login/", {"username": "plain", "password": "pw-12345"})
    wait_until(lambda: len(meisa_fake.upserts) == 2 and settled(user))  # ...a login does
    time.sleep(0.3)
    assert len(meisa_fake.upserts) == 2
    assert state_of(user).login_pending is False


def test_a_raising_mapper_and_a_user_without_email_never_stop_the_worker(meisa_fake, settings):
    settings.MEISA = {
        **settings.MEISA,
        "CUSTOM_FIELDS": {"label": "tests.sync_callables.exploding"},
    }
    broken = make_user("broken")
    nomail = make_user("nomail", email="")
    wait_until(lambda: state_of(broken).last_result == "failed_permanent")
    wait_until(lambda: state_of(nomail).last_result == "skipped_no_email")
    assert meisa_fake.requests == []
    assert "KeyError" in state_of(broken).last_error
    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {}}
    fine = make_user("fine")
    wait_until(lambda: settled(fine) and meisa_fake.upserts)
    assert [u["email"] for u in meisa_fake.upserts] == ["fine@example.com"]


def test_a_busy_task_retries_instead_of_dropping_the_change(meisa_fake):
    from tests.sync_support import acquire_lease

    user = make_user("held")
    wait_until(lambda: settled(user) and meisa_fake.upserts)
    lease = acquire_lease(user.pk)  # a holder that will never look again (e.g. it died)
    assert lease is not None
    user.first_name = "Changed"
    user.save()  # its task finds the lease held
    time.sleep(0.3)
    assert len(meisa_fake.upserts) == 1
    lease.release()
    wait_until(lambda: len(meisa_fake.upserts) == 2 and settled(user))
    assert meisa_fake.upserts[-1]["first_name"] == "Changed"


def test_a_database_error_in_the_task_is_retried(meisa_fake, monkeypatch):
    from django.db import OperationalError

    from django_meisa.contacts import worker

    real = worker.sync_contact_now
    calls = []

    def flaky(user_pk, **kwargs):
        calls.append(user_pk)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(user_pk, **kwargs)

    monkeypatch.setattr(worker, "sync_contact_now", flaky)
    user = make_user("dbhiccup")
    wait_until(lambda: settled(user) and meisa_fake.upserts)
    assert len(calls) == 2


def test_a_misconfiguration_is_logged_and_left_pending(meisa_fake, settings, caplog):
    settings.MEISA = {**settings.MEISA, "API_KEY": ""}
    user = make_user("unkeyed")
    wait_until(lambda: any("skipped" in r.getMessage() for r in caplog.records))
    assert state_of(user).is_pending
    assert meisa_fake.requests == []
    assert 'MEISA["API_KEY"] is not set' in caplog.text
