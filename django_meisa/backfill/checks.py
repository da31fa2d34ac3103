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
    """Check the ``BACKFILL_*`` settings. Registered in ``apps.py``."""
    problems = [
        _lease_timeout(conf.get_setting("BACKFILL_LEASE_TIMEOUT")),
        _select_related(conf.get_setting("BACKFILL_SELECT_RELATED")),
        _changed_field(conf.get_setting("BACKFILL_CHANGED_FIELD")),
        _rate_limit_cache(conf.get_setting("BACKFILL_RATE_LIMIT_CACHE")),
    ]
    return [problem for problem in problems if problem is not None]


def _problem(
    key: str, value: Any, why: str, hint: str, id: str, level: type[Error | Warning] = Error
) -> CheckMessage:
    return level(f'MEISA["{key}"] is {value!r}{why}.', hint=hint, id=id)


def _lease_timeout(value: Any) -> CheckMessage | None:
    if conf.is_number(value, positive=True):
        return None
    hint = "Use a positive number of seconds (default 60)."
    return _problem("BACKFILL_LEASE_TIMEOUT", value, "", hint, "meisa.E030")


def _select_related(value: Any) -> CheckMessage | None:
    if value is None or (
        isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
    ):
        return None
    hint = 'Use None (derived from CUSTOM_FIELDS) or a list such as ["profile"].'
    return _problem("BACKFILL_SELECT_RELATED", value, "", hint, "meisa.E031")


def _changed_field(value: Any) -> CheckMessage | None:
    from django.contrib.auth import get_user_model

    if value is None:
        return None
    root = str(value).split("__", 1)[0]
    try:
        get_user_model()._meta.get_field(root)
    except FieldDoesNotExist:
        why = f", but the user model has no field {root!r}"
        hint = (
            'Name a date/datetime field of the user model (e.g. "updated_at"), '
            'or a lookup path through a relation ("profile__updated_at").'
        )
        return _problem("BACKFILL_CHANGED_FIELD", value, why, hint, "meisa.E032")
    return None


def _rate_limit_cache(alias: Any) -> CheckMessage | None:
    caches = getattr(settings, "CACHES", {})
    if alias is None:
        return None
    if not isinstance(alias, str) or alias not in caches:
        hint = "Name a cache alias every Celery worker shares, such as a Redis cache."
        why = ", which is not in CACHES"
        return _problem("BACKFILL_RATE_LIMIT_CACHE", alias, why, hint, "meisa.E033")
    if caches[alias].get("BACKEND") in PROCESS_LOCAL_CACHES:
        why = ", a per-process cache, so --rate is not shared between Celery workers"
        hint = "Use a cache every worker shares (Redis, Memcached, database)."
        return _problem("BACKFILL_RATE_LIMIT_CACHE", alias, why, hint, "meisa.W030", Warning)
    return None
