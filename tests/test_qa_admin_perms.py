"""QA: staff with partial permissions get 200/403 from django-meisa's admin, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

pytestmark = pytest.mark.django_db


def make_user(name: str, **extra: Any) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com", "password": "pw", **extra}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


@pytest.fixture
def viewer(client):
    user = make_user("viewer", is_staff=True)
    codenames = ["view_suppressedemail", "view_usersyncstate", "view_backfillrun"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_view_only_staff_pages(viewer):
    from django_meisa.models import UserSyncState

    ada = UserSyncState.objects.get(user__email="ada@example.com") if make_user("ada") else None
    for url in (
        "/admin/",
        "/admin/django_meisa/suppressedemail/",
        "/admin/django_meisa/suppressedemail/check/?address=ada%40example.com",
        "/admin/django_meisa/usersyncstate/",
        f"/admin/django_meisa/usersyncstate/{ada.pk}/change/",
        f"/admin/django_meisa/usersyncstate/{ada.pk}/preview/",
    ):
        assert viewer.get(url).status_code == 200, url


def test_view_only_staff_cannot_act(viewer):
    from django_meisa.models import UserSyncState

    ada = UserSyncState.objects.get(user__email="ada@example.com") if make_user("ada") else None
    assert viewer.post("/admin/django_meisa/suppressedemail/refresh/").status_code == 403
    assert viewer.post(f"/admin/django_meisa/usersyncstate/{ada.pk}/sync/").status_code == 403
    response = viewer.post(
        "/admin/django_meisa/suppressedemail/add/", {"email": "x@example.com", "reason": "r"}
    )
    assert response.status_code == 403


def test_non_staff_is_redirected_to_login(client):
    client.force_login(make_user("plain"))
    for url in ("/admin/django_meisa/usersyncstate/", "/admin/django_meisa/suppressedemail/check/"):
        assert client.get(url).status_code == 302, url
