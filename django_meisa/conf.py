"""The MEISA settings dict: defaults in one place, read at call time."""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: Every public key of ``settings.MEISA`` with its default. Anything else is a typo
#: and is reported by the ``meisa.E003`` system check.
DEFAULTS: dict[str, Any] = {
    # Foundation
    "API_KEY": None,
    "BASE_URL": "https://api.meisa.io/api/v1",
    "ENABLED": True,
    "TIMEOUT": (3.05, 10.0),
}

UNSET: Any = object()


def user_settings() -> dict[str, Any]:
    """Return ``settings.MEISA`` as given by the site (an empty dict when absent)."""
    value = getattr(settings, "MEISA", None)
    return value if isinstance(value, dict) else {}


def get_setting(name: str) -> Any:
    """Return ``MEISA[name]``, or its default. Called at use time, never cached.

    Raises ``KeyError`` for a name that is not in ``DEFAULTS``: that is a bug in
    django-meisa itself, not a user error.
    """
    default = DEFAULTS[name]
    return user_settings().get(name, default)


def timeout() -> tuple[float, float]:
    """Return ``MEISA["TIMEOUT"]`` as a ``(connect, read)`` pair of seconds.

    A single number is used for both. Raises ``MeisaConfigurationError`` for anything
    else, naming the setting.
    """
    from django_meisa.exceptions import MeisaConfigurationError

    value = get_setting("TIMEOUT")
    parsed = parse_timeout(value)
    if parsed is None:
        raise MeisaConfigurationError(
            'MEISA["TIMEOUT"] must be a positive number of seconds or a '
            f"(connect, read) pair of positive numbers, not {value!r}."
        )
    return parsed


def parse_timeout(value: Any) -> tuple[float, float] | None:
    """Return ``value`` as ``(connect, read)`` seconds, or None when it is not valid."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
        return None
    return float(value[0]), float(value[1])
