"""System checks meisa.E030-E033 and meisa.W030 for the backfill settings."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_meisa import conf
from django_meisa.backfill.checks import check_backfill

REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ids(**meisa):
    with override_settings(MEISA={**conf.user_settings(), **meisa}):
        return [message.id for message in check_backfill()]


def test_defaults_pass():
    assert ids() == []


@pytest.mark.parametrize("value", [0, -5, "600", True])
def test_lease_timeout_must_be_positive(value):
    assert ids(BACKFILL_LEASE_TIMEOUT=value) == ["meisa.E030"]


@pytest.mark.parametrize("value", ["profile", [""], [1]])
def test_select_related_must_be_a_list_of_names(value):
    assert ids(BACKFILL_SELECT_RELATED=value) == ["meisa.E031"]


def test_select_related_list_passes():
    assert ids(BACKFILL_SELECT_RELATED=["profile"]) == []


def test_changed_field_must_exist_on_the_user_model():
    assert ids(BACKFILL_CHANGED_FIELD="updated_at") == ["meisa.E032"]
    assert ids(BACKFILL_CHANGED_FIELD="last_login") == []
    assert ids(BACKFILL_CHANGED_FIELD="profile__country") == []


def test_rate_limit_cache_must_be_a_cache_alias():
    with override_settings(CACHES={"default": LOCMEM}):
        assert ids(BACKFILL_RATE_LIMIT_CACHE="meisa") == ["meisa.E033"]


def test_a_per_process_rate_limit_cache_warns():
    with override_settings(CACHES={"default": LOCMEM, "meisa": REDIS}):
        assert ids(BACKFILL_RATE_LIMIT_CACHE="default") == ["meisa.W030"]
        assert ids(BACKFILL_RATE_LIMIT_CACHE="meisa") == []


def test_the_check_is_registered():
    from django.core.checks.registry import registry

    assert check_backfill in registry.get_checks()
