"""The request path: one durable bump and one publish per user per transaction."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

import django_meisa
from django_meisa.contacts.requests import bump_version, publish_syncs, request_sync
from django_meisa.models import UserSyncState
from tests.sync_support import make_user, state_of
from tests.testapp.models import Subscription


@pytest.fixture
def published(monkeypatch):
    """Record the (args, options) of every sync_contact publish instead of sending it."""
    from tests.celery_app import app

    calls = []

    def send_task(name, args, **options):
        assert name == "django_meisa.tasks.sync_contact"  # by name: 0.1 messages still run
        calls.append((args, options))

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.django_db
def test_create_in_a_transaction_bumps_once_and_publishes_the_pk_after_commit(published, on_commit):
    with on_commit():
        user = make_user("ada")
        assert published == []  # not before the commit
    assert [args for args, _ in published] == [(user.pk,)]
    state = state_of(user)
    assert (state.version, state.synced_version, state.signup_pending) == (1, 0, True)
    assert state.pending_since is not None


@pytest.mark.django_db(transaction=True)
def test_ten_saves_in_one_transaction_cost_one_statement_and_one_publish(published):
    existing = make_user("existing")
    published.clear()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            request_sync(existing)
        assert len(queries) == 1  # the INSERT ... ON CONFLICT DO UPDATE, nothing else
        user = make_user("ten")
        for n in range(10):
            user.first_name = f"n{n}"
            with CaptureQueriesContext(connection) as queries:
                request_sync(user)
            assert len(queries) == 0
            user.save()
        assert published == []
    assert sorted(args for args, _ in published) == [(existing.pk,), (user.pk,)]
    assert state_of(user).version == 1


@pytest.mark.django_db
def test_a_rolled_back_savepoint_publishes_nothing(published, on_commit):
    with on_commit(), transaction.atomic():
        make_user("ghost")
        transaction.set_rollback(True)
    assert published == []
    assert not UserSyncState.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_request_after_a_rolled_back_savepoint_is_bumped_again(published):
    user = make_user("again")
    UserSyncState.objects.all().delete()
    published.clear()
    with transaction.atomic():
        with transaction.atomic():
            user.save()
            transaction.set_rollback(True)
        assert not UserSyncState.objects.exists()
        user.save()
    assert state_of(user).version == 1
    assert [args for args, _ in published] == [(user.pk,)]


@pytest.mark.django_db(transaction=True)
def test_one_publish_per_user_across_savepoint_levels(published):
    first, second = make_user("one"), make_user("two")
    published.clear()
    with transaction.atomic():
        with transaction.atomic():
            first.save()
        second.save()
        first.save()
        with transaction.atomic():
            second.save()
    assert sorted(args for args, _ in published) == sorted([(first.pk,), (second.pk,)])


@pytest.mark.django_db(transaction=True)
def test_autocommit_publishes_at_once_with_bounded_retries(published, settings):
    settings.MEISA = {**settings.MEISA, "ENQUEUE_MAX_RETRIES": 1}
    user = make_user("auto")
    assert len(published) == 1
    (args, options) = published[0]
    assert args == (user.pk,)
    assert options["retry"] is True
    assert options["retry_policy"]["max_retries"] == 1


@pytest.mark.django_db
def test_raw_saves_and_disabled_sync_are_ignored(published, on_commit, settings):
    user_model = get_user_model()
    with on_commit():
        user = user_model(username="fixture", email="fixture@example.com")
        user.save_base(raw=True)
    assert published == []
    settings.MEISA = {**settings.MEISA, "ENABLED": False}
    with on_commit():
        make_user("disabled")
    assert published == []
    assert not UserSyncState.objects.exists()


@pytest.mark.django_db
def test_sync_on_save_off_still_syncs_logins(published, on_commit, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_ON_SAVE": False}
    with on_commit():
        user = make_user("quiet")
        user.save()
    assert published == []
    with on_commit():
        user.save(update_fields=["last_login"])
    assert len(published) == 1


@pytest.mark.django_db(transaction=True)
def test_the_public_request_sync_accepts_a_user_or_a_pk(published):
    user = make_user("public")
    published.clear()
    with transaction.atomic():
        django_meisa.request_sync(user)
        django_meisa.request_sync(user.pk)
    assert [args for args, _ in published] == [(user.pk,)]


@pytest.mark.django_db(transaction=True)
def test_trigger_model_save_and_delete_request_its_user(published, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_TRIGGERS": {"testapp.Subscription": "user"}}
    user = make_user("payer")
    published.clear()
    with transaction.atomic():
        subscription = Subscription.objects.create(user=user, plan="pro")
        assert published == []
    assert [args for args, _ in published] == [(user.pk,)]
    with transaction.atomic():
        subscription.delete()
    assert len(published) == 2


@pytest.mark.django_db(transaction=True)
def test_deleting_a_user_with_trigger_rows_still_works(published, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_TRIGGERS": {"testapp.Subscription": "user"}}
    user = make_user("leaver")
    Subscription.objects.create(user=user, plan="pro")
    published.clear()
    with transaction.atomic():
        user.delete()
    assert not get_user_model().objects.filter(username="leaver").exists()
    assert not UserSyncState.objects.exists()
    assert published == []


@pytest.mark.django_db(transaction=True)
def test_unrelated_model_saves_do_nothing(published, settings):
    settings.MEISA = {**settings.MEISA, "SYNC_TRIGGERS": {}}
    user = make_user("plain")
    published.clear()
    with transaction.atomic():
        Subscription.objects.create(user=user, plan="pro")
        post_save.send(sender=Subscription, instance=None, created=False, raw=True)
    assert published == []


@pytest.mark.django_db
def test_a_later_bump_keeps_the_signup_flag():
    # One statement on every supported database (the ORM fallback for vendors meisa.E050
    # refuses is gone): it creates the row, and a later bump keeps the flag it set.
    user = make_user("mysql")
    UserSyncState.objects.all().delete()
    bump_version(user.pk, created=True, using="default")
    bump_version(user.pk, created=False, using="default")
    state = state_of(user)
    assert (state.version, state.signup_pending) == (2, True)


@pytest.mark.django_db
def test_the_bump_statement_is_built_once_per_backend(monkeypatch):
    # Building the SQL text on every save was about a fifth of the bump's cost.
    from django_meisa.contacts import requests

    built = []
    build = requests.build_bump_sql
    monkeypatch.setattr(requests, "_bump_statements", {})
    monkeypatch.setattr(requests, "build_bump_sql", lambda conn: built.append(1) or build(conn))
    user = make_user("cached")
    UserSyncState.objects.all().delete()
    for _ in range(3):
        bump_version(user.pk, created=False, using="default")
    assert (len(built), state_of(user).version) == (1, 3)


def test_a_failed_publish_logs_one_warning_with_pks_only_and_never_raises(monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    from tests.celery_app import app

    calls = []

    def refuse(name, args, **options):
        calls.append(args)
        raise OperationalError("amqp://guest:hunter2@broker//: connection refused")

    monkeypatch.setattr(app, "send_task", refuse)
    publish_syncs([1, 2, 3])
    assert calls == [(1,)]  # the broker is down for the others too
    warnings = [r for r in caplog.records if r.name.startswith("django_meisa.contacts")]
    assert len(warnings) == 1
    assert "1, 2, 3" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text


def test_eager_mode_runs_the_registered_task_without_importing_it(monkeypatch, settings):
    from tests.celery_app import app

    ran = []
    task = app.tasks["django_meisa.tasks.sync_contact"]
    monkeypatch.setattr(task, "apply_async", lambda args, **options: ran.append(args))
    app.conf.task_always_eager = True
    try:
        publish_syncs([5])
    finally:
        app.conf.task_always_eager = False
    assert ran == [(5,)]


def test_uuid_primary_keys_travel_as_strings(published):
    value = uuid.uuid4()
    publish_syncs([value, 7])
    assert [args for args, _ in published] == [(str(value),), (7,)]


@pytest.mark.django_db
def test_proxy_user_models_sync_too(published, on_commit):
    from tests.testapp.models import Member

    with on_commit():
        member = Member.objects.create_user(username="proxy", email="proxy@example.com")
    assert [args for args, _ in published] == [(member.pk,)]
    assert state_of(member).signup_pending is True


@pytest.mark.django_db(transaction=True)
def test_user_logged_in_requests_the_sync_when_django_does_not_save_last_login(published):
    from django.contrib.auth.models import update_last_login
    from django.contrib.auth.signals import user_logged_in
    from django.test import Client

    user = make_user("nolastlogin")
    published.clear()
    before = state_of(user).version
    user_logged_in.disconnect(dispatch_uid="update_last_login")
    try:
        Client().force_login(user)
    finally:
        user_logged_in.connect(update_last_login, dispatch_uid="update_last_login")
    assert [args for args, _ in published] == [(user.pk,)]
    state = state_of(user)
    assert state.version == before + 1
    assert state.login_pending is True


@pytest.mark.django_db(transaction=True)
def test_a_login_requests_once_through_the_last_login_save(published):
    from django.test import Client

    user = make_user("normal")
    published.clear()
    before = state_of(user).version
    Client().force_login(user)
    assert [args for args, _ in published] == [(user.pk,)]
    assert state_of(user).version == before + 1
    # Outside a transaction, the login's sync waits for the rest of the login.
    assert published[0][1]["countdown"] == 1.0


@pytest.mark.django_db(transaction=True)
def test_a_login_inside_a_transaction_is_published_at_commit_without_delay(published):
    from django.test import Client

    user = make_user("atomic")
    published.clear()
    with transaction.atomic():
        Client().force_login(user)
        assert published == []
    assert published[0][1]["countdown"] is None


def test_trigger_paths_may_be_dotted_and_read_the_foreign_key_without_a_query():
    from django_meisa.contacts.receivers import trigger_user_pk
    from tests.testapp.models import Profile

    profile = Profile(user_id=7)
    subscription = Subscription(user_id=7)
    assert trigger_user_pk(subscription, "user") == 7
    holder = type("Holder", (), {"profile": profile})()
    assert trigger_user_pk(holder, "profile.user") == 7
    assert trigger_user_pk(type("Empty", (), {"profile": None})(), "profile.user") is None
