"""Related models whose rows the mapper reads: a save or delete of one syncs its users.

The relations come from the mapper's attribute paths (``"profile.plan"`` reads
``Profile``), or ``MAPPER_RELATIONS`` for a custom ``MAPPER``. A row holding the user's
key names its user without a query; a row further away costs one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist

from django_meisa import conf
from django_meisa.contacts.mapping import classify_spec
from django_meisa.exceptions import MeisaMappingError


@dataclass(frozen=True)
class Route:
    """How a row of ``model`` leads back to users: ``lookup`` filters users by the row;
    ``attname``, when set, is the row's column holding the user's pk (no query)."""

    model: str
    lookup: str
    attname: str | None = None


def mapped_paths() -> tuple[str, ...]:
    """The attribute paths the mapper follows from the user, relations included."""
    user_model = get_user_model()
    if conf.get_setting("MAPPER"):
        declared = conf.get_setting("MAPPER_RELATIONS") or []
        return tuple(path for path in declared if isinstance(path, str))
    names = ("EXTERNAL_ID_FIELD", "FIRST_NAME_FIELD", "LAST_NAME_FIELD")
    paths = [conf.get_setting(name) for name in names]
    for spec in (conf.get_setting("CUSTOM_FIELDS") or {}).values():
        try:
            kind, target = classify_spec(spec, user_model)
        except MeisaMappingError:
            continue  # reported by the meisa.E011 check
        if kind == "attribute":
            paths.append(target)
    return tuple(sorted({path for path in paths if isinstance(path, str) and path}))


def routes_for(model: Any) -> tuple[Route, ...]:
    """The routes from rows of ``model`` to users (none for a ``SYNC_TRIGGERS`` model)."""
    concrete = getattr(getattr(model, "_meta", None), "concrete_model", None)
    if concrete is None:
        return ()
    label = concrete._meta.label
    raw = conf.user_settings()  # read once: every save of every model comes here
    triggers = raw.get("SYNC_TRIGGERS") or {}
    if label in triggers or label.lower() in triggers:
        return ()
    try:
        routes = routes_for_settings(settings_key(raw))
    except TypeError:  # an unhashable value in the settings: compute without the cache
        routes = all_routes(get_user_model()._meta.label, mapped_paths())
    return routes.get(label, ())


def settings_key(raw: dict[str, Any]) -> tuple[Any, ...]:
    """The values the routes depend on, hashable: the cache key (so it never goes stale)."""
    fields = raw.get("CUSTOM_FIELDS") or {}
    relations = raw.get("MAPPER_RELATIONS")
    return (
        settings.AUTH_USER_MODEL,
        tuple(fields.items()) if isinstance(fields, dict) else fields,
        tuple(relations) if isinstance(relations, (list, tuple)) else relations,
        *(raw.get(name, conf.DEFAULTS[name]) for name in SETTINGS_READ),
    )


#: The other settings the routes are derived from.
SETTINGS_READ = ("MAPPER", "EXTERNAL_ID_FIELD", "FIRST_NAME_FIELD", "LAST_NAME_FIELD")


@lru_cache(maxsize=16)
def routes_for_settings(key: tuple[Any, ...]) -> dict[str, tuple[Route, ...]]:
    """``all_routes`` for the settings ``key`` describes (read now: they are the same)."""
    return all_routes(get_user_model()._meta.label, mapped_paths())


def all_routes(user_label: str, paths: tuple[str, ...]) -> dict[str, tuple[Route, ...]]:
    """Map model labels to their routes, following each mapped path through relations."""
    found: dict[str, list[Route]] = {}
    for path in paths:
        for route in path_routes(apps.get_model(user_label), path):
            if route not in found.setdefault(route.model, []):
                found[route.model].append(route)
    return {label: tuple(routes) for label, routes in found.items()}


def path_routes(user_model: Any, path: str) -> Iterable[Route]:
    """Yield a route for each related model ``path`` passes through (stops at a non-relation)."""
    current, lookup = user_model, []
    for segment in path.split("."):
        field = relation_field(current, segment)
        if field is None:
            return
        lookup.append(field.name)  # the query name, for reverse relations too
        current = field.related_model
        yield Route(current._meta.label, "__".join(lookup), user_key(field, user_model, lookup))


def relation_field(model: Any, name: str) -> Any:
    """Return the relation field ``name`` of ``model`` (forward or reverse), or None."""
    try:
        field = model._meta.get_field(name)
    except (FieldDoesNotExist, AttributeError):
        return None
    return field if field.is_relation and field.related_model is not None else None


def user_key(field: Any, user_model: Any, lookup: list[str]) -> str | None:
    """The attname on the related row holding the user's pk, for a first-hop reverse relation."""
    if len(lookup) != 1 or field.concrete:
        return None
    forward = field.remote_field  # the related model's FK/one-to-one pointing at the user
    if getattr(forward, "many_to_many", False) or not getattr(forward, "concrete", False):
        return None
    target = forward.target_field
    return forward.attname if target == user_model._meta.pk else None


def user_pks(instance: Any, route: Route) -> list[Any]:
    """The pks of the users ``instance`` reaches by ``route``: no query with an attname."""
    if route.attname is not None:
        pk = getattr(instance, route.attname, None)
        return [] if pk is None else [pk]
    users = get_user_model()._default_manager.filter(**{route.lookup: instance.pk})
    return list(users.values_list("pk", flat=True).distinct())


def related_user_pks(instance: Any) -> list[Any]:
    """Every user pk that a save or delete of ``instance`` may change the payload of."""
    pks: list[Any] = []
    for route in routes_for(type(instance)):
        pks.extend(pk for pk in user_pks(instance, route) if pk not in pks)
    return pks
