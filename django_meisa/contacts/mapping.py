"""Map a user to a Meisa upsert payload, from the MEISA settings or a custom MAPPER."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils.module_loading import import_string

from django_meisa import conf
from django_meisa.exceptions import MeisaMappingError, MeisaNoEmailError, MeisaPayloadError
from django_meisa.payload import encode_custom_value, encode_upsert_payload

#: A resolved spec: an attribute path on the user, or a callable taking the user.
MeisaFieldSpec = tuple[str, Any]


def build_contact_payload(user: Any) -> dict[str, Any]:
    """Return the upsert payload for ``user``, encoded, without ``source``.

    Uses ``MEISA["MAPPER"]`` when set, else the built-in mapper. Raises
    ``MeisaNoEmailError`` for a user without email, and ``MeisaMappingError`` naming the
    mapper entry for anything raised or unusable.
    """
    mapper_path = conf.get_setting("MAPPER")
    if mapper_path:
        raw = run_custom_mapper(mapper_path, user)
        entry = f'MEISA["MAPPER"] ({describe(mapper_path)})'
    else:
        # Checked first: a user without email is a skip even if a field would fail.
        check_email(getattr(user, email_field_name(user), None))
        raw = default_payload(user)
        entry = "the built-in mapper"
    # Source is decided per sync (signup / api / initial_sync), never by the mapper.
    raw = {key: value for key, value in raw.items() if key != "source"}
    check_email(raw.get("email"))
    try:
        return encode_upsert_payload(raw)
    except MeisaPayloadError as err:
        raise MeisaMappingError(f"{entry} produced an invalid payload: {err}") from err


def check_email(email: Any) -> None:
    """Raise ``MeisaNoEmailError`` when ``email`` is missing or blank."""
    if email is None or (isinstance(email, str) and not email.strip()):
        raise MeisaNoEmailError("The user has no email address, so there is nothing to upsert.")


def default_payload(user: Any) -> dict[str, Any]:
    """Return the built-in mapper's payload for ``user`` (not yet encoded): email,
    external_id, names, ``CUSTOM_FIELDS`` and ``TAG_NAMES``; call it from your MAPPER."""
    payload: dict[str, Any] = {
        "email": getattr(user, email_field_name(user), None),
        "external_id": external_id(user),
        "custom_fields": custom_fields(user),
    }
    for key, setting in (("first_name", "FIRST_NAME_FIELD"), ("last_name", "LAST_NAME_FIELD")):
        payload[key] = name_value(user, setting)
    tags = tag_names(user)
    if tags is not None:
        payload["tag_names"] = tags
    return payload


def email_field_name(user: Any) -> str:
    """Return the name of the user model's email field (``EMAIL_FIELD``, else "email")."""
    getter = getattr(type(user), "get_email_field_name", None)
    return getter() if callable(getter) else "email"


def external_id(user: Any) -> str | None:
    """Return the external id: ``EXTERNAL_ID_FIELD`` resolved on the user, else the pk."""
    path = conf.get_setting("EXTERNAL_ID_FIELD")
    if not path:
        return str(user.pk)
    value = resolve_path(user, path, 'MEISA["EXTERNAL_ID_FIELD"]')
    return None if value is None else str(value)


def name_value(user: Any, setting: str) -> Any:
    """Return the first/last name from ``MEISA[setting]`` (a default path the user model
    lacks gives None: no name)."""
    path = conf.get_setting(setting)
    if not path or (path == conf.DEFAULTS[setting] and not hasattr(type(user), path)):
        return None
    value = resolve_path(user, path, f'MEISA["{setting}"]')
    return None if value is None else str(value)


def custom_fields(user: Any) -> dict[str, Any]:
    """Return ``CUSTOM_FIELDS`` evaluated for ``user``, each value JSON-encoded."""
    fields = conf.get_setting("CUSTOM_FIELDS") or {}
    values = {}
    for name, spec in fields.items():
        entry = f'MEISA["CUSTOM_FIELDS"]["{name}"]'
        value = evaluate_spec(user, spec, entry)
        try:
            values[name] = encode_custom_value(entry, value)
        except MeisaPayloadError as err:
            raise MeisaMappingError(str(err)) from err
    return values


def tag_names(user: Any) -> list[str] | None:
    """Return the tags from ``TAG_NAMES`` for ``user`` (sets are sorted), or None."""
    path = conf.get_setting("TAG_NAMES")
    if not path:
        return None
    entry = f'MEISA["TAG_NAMES"] ({describe(path)})'
    tags = call_user_callable(path, user, entry)
    if isinstance(tags, (set, frozenset)):
        tags = sorted(tags)
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple)):
        raise MeisaMappingError(f"{entry} returned {type(tags).__name__}, not a list of tag names")
    return list(tags)


def run_custom_mapper(path: Any, user: Any) -> dict[str, Any]:
    """Call ``MEISA["MAPPER"]`` and return its dict, or raise ``MeisaMappingError``."""
    entry = f'MEISA["MAPPER"] ({describe(path)})'
    result = call_user_callable(path, user, entry)
    if not isinstance(result, Mapping):
        raise MeisaMappingError(f"{entry} returned {type(result).__name__}, not a dict")
    return dict(result)


def classify_spec(spec: Any, user_model: type) -> MeisaFieldSpec:
    """Return ``("attribute", path)`` or ``("callable", dotted_path_or_callable)``.

    A string starting with an attribute of the user model is an attribute path; any
    other dotted string names a callable.
    """
    if callable(spec):
        return ("callable", spec)
    if not isinstance(spec, str) or not spec.strip():
        raise MeisaMappingError(f"must be an attribute path or a dotted path, not {spec!r}")
    root = spec.split(".", 1)[0]
    if hasattr(user_model, root) or "." not in spec:
        return ("attribute", spec)
    return ("callable", spec)


def evaluate_spec(user: Any, spec: Any, entry: str) -> Any:
    """Return the value ``spec`` (attribute path or callable) gives for ``user``."""
    try:
        kind, target = classify_spec(spec, type(user))
    except MeisaMappingError as err:
        raise MeisaMappingError(f"{entry} {err}") from None
    if kind == "attribute":
        return resolve_path(user, target, entry)
    return call_user_callable(target, user, f"{entry} ({describe(target)})")


def resolve_path(obj: Any, path: str, entry: str) -> Any:
    """Follow ``path`` ("profile.plan") from ``obj``, calling methods on the way.

    A missing related object or a None on the way gives None (Meisa stores null).
    """
    value = obj
    for segment in path.split("."):
        if value is None:
            return None
        try:
            value = getattr(value, segment)
            if inspect.ismethod(value):
                value = value()
        except ObjectDoesNotExist:
            return None
        except AttributeError:
            raise MeisaMappingError(
                f"{entry}: {type(value).__name__} has no attribute {segment!r} (path {path!r})"
            ) from None
        except Exception as err:
            raise MeisaMappingError(
                f"{entry}: {segment!r} raised {type(err).__name__} (path {path!r})"
            ) from err
    return value


def load_callable(path: Any, entry: str) -> Callable[..., Any]:
    """Import ``path`` (or accept a callable); raise ``MeisaMappingError`` if unusable."""
    if callable(path):
        return path
    if not isinstance(path, str):
        raise MeisaMappingError(f"{entry} is neither a dotted path nor a callable")
    try:
        func = import_string(path)
    except (ImportError, TypeError, ValueError) as err:
        raise MeisaMappingError(f"{entry} cannot be imported: {type(err).__name__}") from err
    if not callable(func):
        raise MeisaMappingError(f"{entry} is not callable")
    return func


def call_user_callable(spec: Any, user: Any, entry: str) -> Any:
    """Load the site's ``spec`` (``load_callable``) and call it with ``user``; what it raises
    is chained, and only its type named: its text may hold personal data."""
    func = load_callable(spec, entry)
    try:
        return func(user)
    except Exception as err:
        raise MeisaMappingError(f"{entry} raised {type(err).__name__}") from err


def describe(spec: Any) -> str:
    """Return a short printable name for a dotted path or a callable."""
    if isinstance(spec, str):
        return spec
    module = getattr(spec, "__module__", "")
    name = getattr(spec, "__qualname__", type(spec).__name__)
    return f"{module}.{name}" if module else name


def map_user(user: Any) -> dict[str, Any] | MeisaMappingError:
    """Return ``build_contact_payload(user)``, or its ``MeisaMappingError`` as an outcome
    for ``decide`` (a configuration error propagates)."""
    try:
        return build_contact_payload(user)
    except MeisaMappingError as err:
        return err
