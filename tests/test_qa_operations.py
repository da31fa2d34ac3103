"""QA: issue #14 through the public API (commands, signals, settings, admin pages)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from django_meisa.signals import user_deleted
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db

KEY = "meisa_test_key"


def make_user(name: str, email: str | None = None, **extra: Any) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": email or f"{name}@example.com", **extra}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code = error.returncode or 1
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def meisa(**extra: Any) -> override_settings:
    return override_settings(MEISA={**settings.MEISA, **extra})


# meisa_sync -------------------------------------------------------------------------


def test_meisa_sync_unknown_user_exits_non_zero():
    with fake_meisa() as fake:
        code, _out, _err = run("meisa_sync", "nobody@example.com")
    assert code != 0
    assert fake.upserts == []


def test_meisa_sync_preview_is_json_with_source_and_sends_nothing():
    user = make_user("ada")
    with fake_meisa() as fake:
        code, out, _err = run("meisa_sync", "--preview", str(user.pk))
    assert code == 0
    body = json.loads(out.split("\n", 1)[1])
    assert body["email"] == "ada@example.com"
    assert body["source"] in {"signup", "api"}
    assert fake.upserts == []


def test_meisa_sync_by_email_case_insensitive():
    user = make_user("ada", "Ada@Example.com")
    with fake_meisa():
        code, out, _err = run("meisa_sync", "--preview", "ada@example.com")
    assert code == 0, out
    assert f"pk={user.pk}" in out


def test_meisa_sync_several_and_one_missing_still_syncs_others():
    ada = make_user("ada")
    with fake_meisa() as fake:
        code, _out, _err = run("meisa_sync", str(ada.pk), "ghost")
    assert code != 0
    assert fake.contact("ada@example.com") is not None


def test_meisa_sync_ineligible_user_sends_nothing_even_with_force():
    staff = make_user("root", is_staff=True)
    with meisa(SYNC_USERS_FILTER={"is_staff": False}), fake_meisa() as fake:
        code, _out, _err = run("meisa_sync", "--force", str(staff.pk))
    assert code == 0
    assert fake.upserts == []


def test_meisa_sync_should_sync_user_callable_applied():
    user = make_user("ada", "ada@internal.example")
    with meisa(SHOULD_SYNC_USER="tests.test_qa_operations.not_internal"), fake_meisa() as fake:
        run("meisa_sync", "--force", str(user.pk))
    assert fake.upserts == []


def not_internal(user: Any) -> bool:
    return not user.email.endswith("@internal.example")


def broken(user: Any) -> Any:
    raise ValueError("boom in mapper")


def test_meisa_sync_mapper_raising_exits_non_zero_without_traceback():
    user = make_user("ada")
    with meisa(CUSTOM_FIELDS={"plan": "tests.test_qa_operations.broken"}), fake_meisa() as fake:
        code, out, err = run("meisa_sync", str(user.pk))
        pcode, pout, perr = run("meisa_sync", "--preview", str(user.pk))
    assert code != 0
    assert pcode != 0
    assert "Traceback" not in out + err + pout + perr
    assert "plan" in perr
    assert fake.upserts == []


def test_meisa_sync_bad_key_never_prints_key():
    user = make_user("ada")
    wrong = meisa(API_KEY=KEY + "_wrong_secret", BASE_URL="https://api.meisa.io/api/v1")
    with fake_meisa(api_key="the_real_key"), wrong:
        code, out, err = run("meisa_sync", str(user.pk))
    assert code != 0
    assert "wrong_secret" not in out + err


# meisa_sweep --------------------------------------------------------------------------


def test_meisa_sweep_exit_statuses(monkeypatch):
    from celery import current_app

    app = current_app._get_current_object()
    monkeypatch.setattr(app, "send_task", lambda *a, **kw: None)
    code, _out, _err = run("meisa_sweep")
    assert code == 0
    with meisa(ENABLED=False):
        code, _out, _err = run("meisa_sweep")
    assert code != 0


# user_deleted ---------------------------------------------------------------------------


@pytest.fixture
def deleted_events():
    seen: list[dict[str, Any]] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    user_deleted.connect(receiver)
    yield seen
    user_deleted.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_user_deleted_only_after_commit(deleted_events):
    user = make_user("ada")
    pk = user.pk
    with transaction.atomic():
        user.delete()
        assert deleted_events == []
    assert len(deleted_events) == 1
    assert deleted_events[0]["user_pk"] in (pk, str(pk))
    assert deleted_events[0]["email"] == "ada@example.com"


@pytest.mark.django_db(transaction=True)
def test_user_deleted_never_for_rollback(deleted_events):
    user = make_user("ada")
    pk = user.pk
    with transaction.atomic():
        user.delete()
        transaction.set_rollback(True)
    with transaction.atomic(), transaction.atomic():
        get_user_model()._default_manager.get(pk=pk).delete()
        transaction.set_rollback(True)
    assert deleted_events == []


@pytest.mark.django_db(transaction=True)
def test_user_deleted_queryset_delete(deleted_events):
    make_user("ada")
    make_user("bob")
    get_user_model()._default_manager.filter(email__endswith="@example.com").delete()
    assert sorted(e["email"] for e in deleted_events) == ["ada@example.com", "bob@example.com"]


@pytest.mark.django_db(transaction=True)
def test_deleted_user_suppressed_locally(monkeypatch):
    from django_meisa.suppression import is_suppressed

    user = make_user("ada", "Ada@Example.com")
    with meisa(SUPPRESS_DELETED_USERS=True):
        user.delete()
    assert is_suppressed("ada@example.com")


@pytest.mark.django_db(transaction=True)
def test_deleted_user_tag_task_args_hold_no_personal_data(monkeypatch):
    from celery import current_app

    published: list[tuple[Any, ...]] = []
    app = current_app._get_current_object()
    monkeypatch.setattr(
        app,
        "send_task",
        lambda name, args=(), kwargs=None, **kw: published.append((name, args, kwargs)),
    )
    user = make_user("ada")
    with meisa(DELETED_USER_TAG="account-deleted"):
        user.delete()
    text = repr(published)
    assert "ada@example.com" not in text
    assert KEY not in text


# Admin pages ------------------------------------------------------------------------------


@pytest.fixture
def staff(client):
    model = get_user_model()
    fields: dict[str, Any] = {"email": "root@example.com", "password": "pw"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "root"
    user = model._default_manager.create_superuser(**fields)
    client.force_login(user)
    return client


def admin_urls() -> list[str]:
    return [
        "/admin/django_meisa/",
        "/admin/django_meisa/usersyncstate/",
        "/admin/django_meisa/suppressedemail/",
        "/admin/django_meisa/backfillrun/",
    ]


def test_admin_lists_return_200(staff):
    from django.contrib import admin

    user = make_user("ada")
    with fake_meisa():
        run("meisa_sync", str(user.pk))
    for model in admin.site._registry:
        if model._meta.app_label != "django_meisa":
            continue
        url = f"/admin/django_meisa/{model._meta.model_name}/"
        response = staff.get(url)
        assert response.status_code == 200, url
        for params in ({"q": "ada"}, {"q": "a@b; c@d"}, {"o": "1"}, {"q": "%"}):
            response = staff.get(url, params)
            assert response.status_code == 200, (url, params)
        assert KEY.encode() not in response.content


def test_admin_sync_state_filters_all_200(staff):
    from django_meisa.models import UserSyncState as SyncState

    make_user("ada", "same@example.com")
    # The email user model's unique email is case-insensitive on MariaDB.
    unique_email = get_user_model().USERNAME_FIELD == "email"
    make_user("bob", "bob@example.com" if unique_email else "SAME@example.com")
    response = staff.get("/admin/django_meisa/usersyncstate/")
    assert response.status_code == 200
    import re

    links = set(re.findall(rb'href="(\?[^"]+)"', response.content))
    assert links
    for link in links:
        url = "/admin/django_meisa/usersyncstate/" + link.decode().replace("&amp;", "&")
        assert staff.get(url).status_code == 200, url
    assert SyncState.objects.exists()


def test_admin_preview_and_sync_now_for_each_state(staff):
    from django_meisa.models import UserSyncState as SyncState

    make_user("ada")
    with meisa(CUSTOM_FIELDS={"plan": "tests.test_qa_operations.broken"}):
        make_user("bad")
    make_user("root2", is_staff=True)
    with (
        meisa(
            SYNC_USERS_FILTER={"is_staff": False},
            CUSTOM_FIELDS={"plan": "tests.test_qa_operations.broken"},
        ),
        fake_meisa(),
    ):
        for state in SyncState.objects.all():
            base = f"/admin/django_meisa/usersyncstate/{state.pk}/"
            for url in (base + "change/", base + "preview/"):
                response = staff.get(url)
                assert response.status_code == 200, url
                assert b"Traceback" not in response.content
                assert KEY.encode() not in response.content
            response = staff.post(base + "sync/", follow=True)
            assert response.status_code == 200
            assert b"Traceback" not in response.content


def test_admin_preview_missing_object_is_not_500(staff):
    for pk in ("999999", "not-a-pk", "00000000-0000-0000-0000-000000000000"):
        response = staff.get(f"/admin/django_meisa/usersyncstate/{pk}/preview/")
        assert response.status_code in (302, 404), pk
        response = staff.post(f"/admin/django_meisa/usersyncstate/{pk}/sync/")
        assert response.status_code in (302, 404), pk


# Stats and health ------------------------------------------------------------------------------


def test_stats_as_dict_is_json_and_keyless():
    from django_meisa.stats import meisa_stats

    make_user("ada")
    data = meisa_stats().as_dict()
    text = json.dumps(data)
    assert KEY not in text
    assert {"pending", "failed", "synced", "refresh_age"} <= set(data)
