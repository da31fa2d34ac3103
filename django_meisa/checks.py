"""The system checks django-meisa registers (ids meisa.E0xx / meisa.W0xx)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.db import connections, router

from django_meisa import conf
from django_meisa.client import api_key_problem, validate_base_url

# Id ranges: E001-E009 settings and client, E010-E019 contact sync,
# E020-E029 suppression and the email backend, E030-E039 backfill, E050-E059 databases,
# E070-E079 who is synced, related models and deleted users.


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the shape of ``settings.MEISA``, the key, the URL and the timeout."""
    raw = getattr(settings, "MEISA", None)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        hint = 'Write MEISA = {"API_KEY": "..."} in settings.py.'
        message = f"settings.MEISA must be a dict, not {type(raw).__name__}."
        return [Error(message, hint=hint, id="meisa.E004")]
    return [*_unknown_keys(raw), *_api_key(), *_base_url(), *_timeout()]


def _unknown_keys(raw: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in (key for key in raw if key not in conf.DEFAULTS):
        close = difflib.get_close_matches(str(key), list(conf.DEFAULTS), n=1, cutoff=0.6)
        hint = (
            f'Did you mean MEISA["{close[0]}"]?'
            if close
            else "Valid keys: " + ", ".join(sorted(conf.DEFAULTS))
        )
        errors.append(Error(f'Unknown setting MEISA["{key}"].', hint=hint, id="meisa.E003"))
    return errors


def _api_key() -> list[CheckMessage]:
    if not conf.get_setting("ENABLED"):
        return []
    key = conf.get_setting("API_KEY")
    if isinstance(key, str) and key.strip():
        problem = api_key_problem(key)
        return [Error(f'MEISA["API_KEY"] {problem}.', id="meisa.E001")] if problem else []
    message = 'MEISA["API_KEY"] is not set while django-meisa is enabled.'
    hint = (
        'Set MEISA["API_KEY"] (e.g. from an environment variable), or set MEISA["ENABLED"] = False.'
    )
    return [Error(message, hint=hint, id="meisa.E001")]


def _base_url() -> list[CheckMessage]:
    problem = validate_base_url(conf.get_setting("BASE_URL"))
    if problem is None:
        return []
    hint = (
        "Use https://api.meisa.io/api/v1 (the default), or http://127.0.0.1:PORT for a local fake."
    )
    return [Error(f'MEISA["BASE_URL"] {problem}.', hint=hint, id="meisa.E002")]


def _timeout() -> list[CheckMessage]:
    value = conf.get_setting("TIMEOUT")
    if conf.parse_timeout(value) is not None:
        return []
    hint = "Use a positive number of seconds, or a (connect, read) pair such as (3.05, 10)."
    return [Error(f'MEISA["TIMEOUT"] is {value!r}.', hint=hint, id="meisa.E005")]


def check_suppression(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check suppression and the email backend (meisa.E020-E029, meisa.W020-W029)."""
    from django_meisa.suppression.checks import suppression_messages

    return suppression_messages()


def check_suppression_mirror(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Database-tagged: W040-W042 about the mirror (``check --database default``)."""
    from django_meisa.suppression.checks import mirror_messages

    return mirror_messages(databases)


def check_suppression_mirror_deploy(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Deploy-only: ``check_suppression_mirror`` for ``check --deploy`` without ``--database``.

    Django 6.1 hands every alias to every check, so there it always reports: twice with
    both flags beats a ``--deploy`` that never shows it.
    """
    import django
    from django.db import router

    from django_meisa.models import SuppressionRefreshState
    from django_meisa.suppression.checks import mirror_messages

    if databases is not None and django.VERSION < (6, 1):
        return []
    return mirror_messages([router.db_for_read(SuppressionRefreshState)])


def check_contact_sync(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the contact sync settings (meisa.E010-E019): mapper paths and triggers."""
    from django_meisa.contacts.checks import contact_sync_messages

    return contact_sync_messages()


def check_sync_scope(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check who is synced, mapper relations and deleted users (meisa.E070-E079, W070-W079)."""
    from django_meisa.contacts.checks import scope_messages

    return scope_messages()


# Databases (meisa.E050-E059) ------------------------------------------------------------

SUPPORTED = "PostgreSQL, MySQL 8.0+, MariaDB 10.11+ and SQLite"
VENDORS = {"postgresql", "mysql", "sqlite"}
MIN_MYSQL = (8, 0)
MIN_MARIADB = (10, 11)


def meisa_aliases() -> set[str]:
    """The database aliases the routers send django-meisa's writes to."""
    models = apps.get_app_config("django_meisa").get_models()
    return {router.db_for_write(model) for model in models}


def check_database_vendor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E050: django-meisa's tables are on a database vendor it doesn't support (never connects)."""
    errors: list[CheckMessage] = []
    for alias in sorted(meisa_aliases()):
        vendor = connections[alias].vendor
        if vendor not in VENDORS:
            engine = connections[alias].settings_dict.get("ENGINE", "?")
            errors.append(
                Error(
                    f"django-meisa's tables are routed to the database {alias!r} "
                    f"({engine}), which it does not support.",
                    hint=f"django-meisa supports {SUPPORTED}. Route its models "
                    f"(app label 'django_meisa') to one of those.",
                    id="meisa.E050",
                )
            )
    return errors


def check_database_version(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E051: a MySQL or MariaDB server older than supported (asks the server: tagged database)."""
    errors: list[CheckMessage] = []
    for alias in sorted(meisa_aliases() & set(databases or ())):
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        mariadb = bool(connection.mysql_is_mariadb)  # type: ignore[attr-defined]
        version = tuple(connection.mysql_version[:2])  # type: ignore[attr-defined]
        minimum, name = (MIN_MARIADB, "MariaDB") if mariadb else (MIN_MYSQL, "MySQL")
        if version < minimum:
            errors.append(_too_old(alias, name, version, minimum))
    return errors


def _too_old(
    alias: str, name: str, version: tuple[int, ...], minimum: tuple[int, int]
) -> CheckMessage:
    found, needed = ".".join(map(str, version)), ".".join(map(str, minimum))
    return Error(
        f"The database {alias!r} runs {name} {found}; django-meisa needs {name} {needed} or newer.",
        hint=f"django-meisa supports {SUPPORTED}.",
        id="meisa.E051",
    )
