"""QA (#14): bad who-syncs settings are reported by checks and never break a request."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.db.models import Q
from django.test import override_settings

pytestmark = pytest.mark.django_db

BAD = [
    {"SYNC_USERS_FILTER": {"no_such_field": True}},
    {"SYNC_USERS_FILTER": {"profile__no_such": 1}},
    {"SYNC_USERS_FILTER": "is_active"},
    {"SYNC_USERS_FILTER": ["is_active"]},
    {"SHOULD_SYNC_USER": "no.such.module.func"},
    {"SHOULD_SYNC_USER": 42},
    {"MAPPER_RELATIONS": ["not_a_relation"]},
    {"HEALTH_MAX_PENDING": -1},
    {"DELETED_USER_TAG": ""},
    {"DELETED_USER_TAG": 5},
    {"SUPPRESS_DELETED_USERS": "no"},
    {"SUPPRESS_DELETED_USERS": 1},
]


def meisa_ids(**extra: Any) -> list[str]:
    with override_settings(MEISA={**settings.MEISA, **extra}):
        return [m.id for m in checks.run_checks(databases=[]) if m.id.startswith("meisa.")]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: repr(b)[:60])
def test_bad_setting_is_an_error_check(bad):
    assert any(i.startswith("meisa.E") for i in meisa_ids(**bad)), bad


@pytest.mark.parametrize("good", [{"SYNC_USERS_FILTER": Q(is_active=True) | Q(is_staff=True)}])
def test_good_settings_pass(good):
    assert not [i for i in meisa_ids(**good) if i.startswith("meisa.E")]


@pytest.mark.parametrize("bad", BAD[:6], ids=lambda b: repr(b)[:60])
def test_bad_filter_never_breaks_a_save(bad):
    model = get_user_model()
    fields: dict[str, Any] = {"email": "ada@example.com"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "ada"
    with override_settings(MEISA={**settings.MEISA, **bad}):
        user = model._default_manager.create_user(**fields)
        user.save()


def test_suppress_deleted_users_must_be_a_bool():
    assert "meisa.E075" in meisa_ids(SUPPRESS_DELETED_USERS="no")
    assert "meisa.E075" not in meisa_ids(SUPPRESS_DELETED_USERS=True)
