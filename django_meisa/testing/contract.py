"""Meisa's upsert and unsubscribed-list contract, as Meisa's API description states it.

Written from Meisa's published description of the two endpoints (not from the client's
``payload.py``), so a wrong constant on the client side makes the fake refuse the request
instead of agreeing with it. ``tests/test_contract_agreement.py`` checks that the client
and this module agree.
"""

from __future__ import annotations

from typing import Any

#: Paths under the base URL (https://api.meisa.io/api/v1).
UPSERT_PATH = "/contacts/upsert/"
UNSUBSCRIBED_PATH = "/contacts/api/unsubscribed-emails/"
#: The authentication header.
API_KEY_HEADER = "X-API-Key"

#: The upsert body's fields and their JSON types ("Request body" table).
UPSERT_FIELDS: dict[str, type] = {
    "email": str,
    "external_id": str,
    "first_name": str,
    "last_name": str,
    "display_name": str,
    "source": str,
    "custom_fields": dict,
    "tag_names": list,
}
REQUIRED_FIELDS = frozenset({"email"})
#: "There is no status or tags field on upsert": sending them is refused.
REFUSED_FIELDS = frozenset({"status", "tags"})
#: "One of api, import, manual, signup, initial_sync. Defaults to api."
SOURCES = frozenset({"api", "import", "manual", "signup", "initial_sync"})
DEFAULT_SOURCE = "api"
#: Statuses the unsubscribed-emails endpoint lists: "unsubscribed, bounced, or complained".
SUPPRESSING_STATUSES = frozenset({"unsubscribed", "bounced", "complained"})


def upsert_problems(data: dict[str, Any]) -> dict[str, list[str]]:
    """Return ``{field: [messages]}`` for every way ``data`` breaks the upsert contract.

    Called by ``FakeMeisa`` for each upsert body; empty means Meisa would accept it.
    """
    problems: dict[str, list[str]] = {}
    for name in data:
        if name in REFUSED_FIELDS:
            problems.setdefault(name, []).append("This field cannot be set through upsert.")
        elif name not in UPSERT_FIELDS:
            problems.setdefault(name, []).append("Unknown field.")
    for name, kind in UPSERT_FIELDS.items():
        message = _field_problem(name, kind, data)
        if message:
            problems.setdefault(name, []).append(message)
    return problems


def _field_problem(name: str, kind: type, data: dict[str, Any]) -> str | None:
    if name not in data:
        return "A valid email is required." if name in REQUIRED_FIELDS else None
    value = data[name]
    if name == "email" and not (isinstance(value, str) and "@" in value):
        return "A valid email is required."
    if not isinstance(value, kind):
        return f"Must be {_TYPE_NAMES[kind]}."
    if name == "source" and value not in SOURCES:
        return f"Must be one of: {', '.join(sorted(SOURCES))}."
    if isinstance(value, list) and not all(isinstance(tag, str) for tag in value):
        return "Must be a list of strings."
    return None


_TYPE_NAMES: dict[type, str] = {str: "a string", dict: "an object", list: "a list of strings"}
