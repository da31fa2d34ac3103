"""Validate and JSON-encode an upsert payload against Meisa's documented contract."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django_meisa.exceptions import MeisaPayloadError

#: The ``source`` values Meisa documents. On update Meisa keeps the original one.
SOURCES = frozenset({"api", "import", "manual", "signup", "initial_sync"})

_NAME_FIELDS = ("first_name", "last_name", "display_name")

#: The upsert body's documented fields.
ALLOWED_FIELDS = frozenset(
    {"email", "external_id", "source", "custom_fields", "tag_names", *_NAME_FIELDS}
)

#: Fields the upsert endpoint deliberately refuses to set, with the reason to show.
FORBIDDEN_FIELDS = {
    "status": "Meisa never lets upsert set a contact's status; it is managed by Meisa "
    "and the contact's own preferences",
    "tags": "upsert cannot replace a contact's tag set; send tag_names to add tags",
}


def encode_upsert_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``payload`` as a JSON-ready dict that follows the upsert contract, or raise
    ``MeisaPayloadError`` naming the field. ``None`` values are dropped: null is not a
    documented value."""
    if not isinstance(payload, Mapping):
        raise MeisaPayloadError("payload", f"must be a dict, not {type(payload).__name__}")
    _refuse_unknown_fields(payload)
    encoded: dict[str, Any] = {"email": _encode_email(payload.get("email"))}
    if payload.get("external_id") is not None:
        encoded["external_id"] = _encode_external_id(payload["external_id"])
    for name in _NAME_FIELDS:
        if payload.get(name) is not None:
            encoded[name] = _encode_string(name, payload[name])
    if payload.get("source") is not None:
        encoded["source"] = _encode_source(payload["source"])
    if payload.get("custom_fields") is not None:
        encoded["custom_fields"] = encode_custom_fields(payload["custom_fields"])
    if payload.get("tag_names") is not None:
        encoded["tag_names"] = _encode_tag_names(payload["tag_names"])
    return encoded


def encode_custom_fields(fields: Any) -> dict[str, Any]:
    """Return ``custom_fields`` with every value encoded to a JSON scalar."""
    if not isinstance(fields, Mapping):
        raise MeisaPayloadError(
            "custom_fields", f"must be a JSON object (dict), not {type(fields).__name__}"
        )
    encoded = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key:
            raise MeisaPayloadError("custom_fields", f"keys must be non-empty strings, not {key!r}")
        encoded[key] = encode_custom_value(f"custom_fields[{key!r}]", value)
    return encoded


def encode_custom_value(field: str, value: Any) -> Any:
    """Return one custom field value as a JSON scalar, or raise ``MeisaPayloadError``.

    Datetimes become ISO 8601 UTC with ``Z``, dates ``YYYY-MM-DD``, Decimals numbers.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MeisaPayloadError(field, f"{value!r} is not a finite number")
        return value
    if isinstance(value, dt.datetime):
        return encode_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _encode_decimal(field, value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise MeisaPayloadError(
        field,
        f"values of type {type(value).__name__} cannot be sent; use a string, number, "
        "boolean, null, datetime, date, Decimal or UUID",
    )


def encode_datetime(value: dt.datetime) -> str:
    """Return ``value`` as ISO 8601 in UTC with a ``Z`` suffix (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    text = value.astimezone(dt.timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def _encode_decimal(field: str, value: Decimal) -> int | float:
    if not value.is_finite():
        raise MeisaPayloadError(field, f"{value!r} is not a finite number")
    return int(value) if value == value.to_integral_value() else float(value)


def _refuse_unknown_fields(payload: Mapping[str, Any]) -> None:
    for name in payload:
        if name in FORBIDDEN_FIELDS:
            raise MeisaPayloadError(name, FORBIDDEN_FIELDS[name])
        if name not in ALLOWED_FIELDS:
            allowed = ", ".join(sorted(ALLOWED_FIELDS))
            raise MeisaPayloadError(
                str(name), f"is not a field of the upsert endpoint (allowed: {allowed})"
            )


def _encode_email(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MeisaPayloadError("email", "is required and must be a non-empty string")
    email = value.strip()
    if "@" not in email or any(c in email for c in "\r\n"):
        raise MeisaPayloadError("email", "is not an email address")
    return email


def _encode_external_id(value: Any) -> str:
    # Primary keys are often ints or UUIDs; Meisa documents a string.
    if isinstance(value, bool) or not isinstance(value, (str, int, uuid.UUID)):
        raise MeisaPayloadError("external_id", f"must be a string, not {type(value).__name__}")
    text = str(value)
    if not text:
        raise MeisaPayloadError("external_id", "must not be empty")
    return text


def _encode_string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MeisaPayloadError(field, f"must be a string, not {type(value).__name__}")
    return value


def _encode_source(value: Any) -> str:
    if value not in SOURCES:
        raise MeisaPayloadError("source", f"must be one of {', '.join(sorted(SOURCES))}")
    return str(value)


def _encode_tag_names(value: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise MeisaPayloadError("tag_names", "must be a list of strings")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise MeisaPayloadError("tag_names", f"must contain non-empty strings, not {tag!r}")
    return list(value)
