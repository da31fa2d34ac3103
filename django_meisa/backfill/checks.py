"""System checks for the backfill settings (ids meisa.E030-E039, meisa.W030-W039)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import FieldDoesNotExist

from django_meisa import conf

#: Cache backends that live inside one process: a rate limit kept there is not shared.
PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def check_backfill(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check ``BACKFILL_LEASE_TIMEOUT``, ``BACKFILL_SELECT_RELATED``,
    ``BACKFILL_CHANGED_FIELD`` and ``BACKFILL_RATE_LIMIT_CACHE``. Registered in ``apps.py``."""
    return [*_lease_timeout(), *_select_related(), *_changed_field(), *_rate_limit_cache()]


def _lease_timeout() -> list[CheckMessage]:
    value = conf.get_setting("BACKFILL_LEASE_TIMEOUT")
    if conf.is_number(value, positive=True):
        return []
    return [
        Error(
            f'MEISA["BACKFILL_LEASE_TIMEOUT"] is {value!r}.',
            hint="Use a positive number of seconds (default 60).",
            id="meisa.E030",
        )
    ]


def _select_related() -> list[CheckMessage]:
    value = conf.get_setting("BACKFILL_SELECT_RELATED")
    if value is None or (
        isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
    ):
        return []
    return [
        Error(
            f'MEISA["BACKFILL_SELECT_RELATED"] is {value!r}.',
            hint='Use None (derived from CUSTOM_FIELDS) or a list such as ["profile"].',
            id="meisa.E031",
        )
    ]


def _changed_field() -> list[CheckMessage]:
    from django.contrib.auth import get_user_model

    value = conf.get_setting("BACKFILL_CHANGED_FIELD")
    if value is None:
        return []
    root = str(value).split("__", 1)[0]
    try:
        get_user_model()._meta.get_field(root)
    except FieldDoesNotExist:
        return [
            Error(
                f'MEISA["BACKFILL_CHANGED_FIELD"] is {value!r}, but the user model has no '
                f"field {root!r}.",
                hint='Name a date/datetime field of the user model (e.g. "updated_at"), '
                'or a lookup path through a relation ("profile__updated_at").',
                id="meisa.E032",
            )
        ]
    return []


def _rate_limit_cache() -> list[CheckMessage]:
    alias = conf.get_setting("BACKFILL_RATE_LIMIT_CACHE")
    if alias is None:
        return []
    caches = getattr(settings, "CACHES", {})
    if not isinstance(alias, str) or alias not in caches:
        return [
            Error(
                f'MEISA["BACKFILL_RATE_LIMIT_CACHE"] is {alias!r}, which is not in CACHES.',
                hint="Name a cache alias every Celery worker shares, such as a Redis cache.",
                id="meisa.E033",
            )
        ]
    if caches[alias].get("BACKEND") in PROCESS_LOCAL_CACHES:
        return [
            Warning(
                f'MEISA["BACKFILL_RATE_LIMIT_CACHE"] is {alias!r}, a per-process cache, so '
                "--rate is not shared between Celery workers.",
                hint="Use a cache every worker shares (Redis, Memcached, database).",
                id="meisa.W030",
            )
        ]
    return []
