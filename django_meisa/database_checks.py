"""System checks for the databases django-meisa's tables live on (meisa.E050-E059)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error
from django.db import connections, router

SUPPORTED = "PostgreSQL, MySQL 8.0+, MariaDB 10.11+ and SQLite"
VENDORS = {"postgresql", "mysql", "sqlite"}
MIN_MYSQL = (8, 0)
MIN_MARIADB = (10, 11)


def meisa_aliases() -> set[str]:
    """The database aliases the routers send django-meisa's writes to."""
    models = apps.get_app_config("django_meisa").get_models()
    return {router.db_for_write(model) for model in models}


def check_database_vendor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E050: django-meisa's tables are on a database vendor it doesn't support.

    Reads ``ENGINE`` only: never connects.
    """
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
