"""The local Meisa's control endpoints: change what the fake holds, inspect what it got.

Served by ``django_meisa.testing.server`` under ``/_control/``. No API key is asked for:
the server binds to 127.0.0.1, and the controls only change the in-memory fake.

    GET    /_control/                   this list
    GET    /_control/health             {"ok": true, "contacts": N, ...} (a readiness probe)
    GET    /_control/contacts           every contact, as Meisa renders it
    GET    /_control/contacts?email=A   one contact (404 if unknown); also ?external_id=
    GET    /_control/upserts            the bodies of the upserts applied, in order
    GET    /_control/requests           every API request received (no API key)
    GET    /_control/unsubscribed       the list the unsubscribed-emails endpoint serves
    POST   /_control/unsubscribed       {"emails": [...]} list addresses as must-not-email
    DELETE /_control/unsubscribed       {"emails": [...]} stop listing them
    POST   /_control/unsubscribe        {"email": A, "status": "unsubscribed"} set a status
    POST   /_control/faults     {"kind": K, "times", "path", "retry_after", "status", "seconds"}
    GET    /_control/faults             the injected faults not used up yet
    DELETE /_control/faults             drop them
    POST   /_control/latency            {"ms": 50} delay every API answer (0 turns it off)
    GET    /_control/latency            the delay now
    POST   /_control/reset              forget everything
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django_meisa.testing.fake import FakeMeisa, FakeResponse, json_response

CONTROL_PREFIX = "/_control/"

_Action = Callable[[FakeMeisa, dict[str, Any], dict[str, str]], Any]


class ControlError(ValueError):
    """A control request that cannot be carried out; answered with HTTP 400 or 404."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def handle_control(fake: FakeMeisa, method: str, path: str, body: bytes | None) -> FakeResponse:
    """Answer one ``/_control/...`` request against ``fake``.

    Called by the HTTP door for every path under ``CONTROL_PREFIX``. Returns a JSON
    ``FakeResponse``; bad input is a 400 with a ``detail`` message, never an exception.
    """
    parts = urlsplit(path)
    name = parts.path[len(CONTROL_PREFIX) :].strip("/")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    action = _ROUTES.get((method, name))
    if action is None:
        known = any(route_name == name for _, route_name in _ROUTES)
        status = 405 if known else 404
        return _json(status, {"detail": f"No control {method} /_control/{name}.", "help": _HELP})
    try:
        data = _body_object(body)
        return _json(200, action(fake, data, query))
    except ControlError as err:
        return _json(err.status, {"detail": str(err)})


def handle_latency(door: Any, method: str, body: bytes | None) -> FakeResponse:
    """Answer ``/_control/latency``: GET shows, POST ``{"ms": N}`` sets ``door.latency_ms``.

    Called by the HTTP door, whose own setting this is (the fake has no clock). Models
    the round trip to the real Meisa, so a benchmark can show what concurrency buys.
    """
    try:
        if method == "POST":
            milliseconds = float(_body_object(body).get("ms", 0))
            if not 0 <= milliseconds <= 60_000:
                raise ControlError("ms must be between 0 and 60000.")
            door.latency_ms = milliseconds
        elif method != "GET":
            return _json(405, {"detail": "GET or POST /_control/latency."})
    except (ControlError, TypeError, ValueError) as err:
        return _json(400, {"detail": str(err)})
    return _json(200, {"latency_ms": door.latency_ms})


def _body_object(body: bytes | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise ControlError("The body must be JSON.") from None
    if not isinstance(data, dict):
        raise ControlError("The body must be a JSON object.")
    return data


def _listing(fake: FakeMeisa, data: dict[str, Any], *, add: bool) -> Any:
    # POST and DELETE /_control/unsubscribed: list or unlist the body's addresses.
    emails = data.get("emails", [data["email"]] if "email" in data else None)
    if not isinstance(emails, list) or not all(isinstance(e, str) and e for e in emails):
        raise ControlError('Send {"emails": ["a@example.com", ...]}.')
    (fake.add_unsubscribed if add else fake.remove_unsubscribed)(*emails)
    return {"unsubscribed": fake.unsubscribed_emails()}


# Actions: (fake, body, query) -> JSON-able answer ----------------------------------------


def _health(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    return {
        "ok": True,
        "contacts": len(fake.contacts),  # not dump(): a probe must stay cheap at 1M contacts
        "requests": len(fake.requests),
        "upserts": len(fake.upserts),
        "unsubscribed": len(fake.unsubscribed_emails()),
    }


def _contacts(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    if "email" not in query and "external_id" not in query:
        return fake.dump()
    contact = fake.contact(query.get("email"), external_id=query.get("external_id"))
    if contact is None:
        raise ControlError("No such contact.", status=404)
    return contact


def _unsubscribe(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    email = data.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ControlError('Send {"email": "a@example.com", "status": "unsubscribed"}.')
    try:
        fake.unsubscribe(email, str(data.get("status", "unsubscribed")))
    except ValueError as err:
        raise ControlError(str(err)) from None
    return fake.contact(email)


def _fault(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    try:
        options: dict[str, Any] = {
            "times": int(data.get("times", 1)),
            "path": data.get("path"),
            "retry_after": int(data.get("retry_after", 1)),
            "status": int(data.get("status", 500)),
            "hang_seconds": float(data.get("seconds", 30.0)),
        }
        fake.inject_fault(str(data.get("kind")), **options)
    except (TypeError, ValueError) as err:
        raise ControlError(str(err)) from None
    return {"injected": {"kind": data.get("kind"), **options}}


def _clear_faults(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    fake.clear_faults()
    return {"faults": []}


def _reset(fake: FakeMeisa, data: dict[str, Any], query: dict[str, str]) -> Any:
    fake.reset()
    return {"reset": True}


_HELP = [
    line.strip()
    for line in (__doc__ or "").splitlines()
    if line.strip().startswith(("GET", "POST", "DELETE"))
]
_ROUTES: dict[tuple[str, str], _Action] = {
    ("GET", ""): lambda fake, data, query: {"help": _HELP},
    ("GET", "health"): _health,
    ("GET", "contacts"): _contacts,
    ("GET", "upserts"): lambda fake, data, query: fake.upserts,
    ("GET", "requests"): lambda fake, data, query: [asdict(r) for r in list(fake.requests)],
    ("GET", "unsubscribed"): lambda fake, data, query: fake.unsubscribed_emails(),
    ("POST", "unsubscribed"): lambda fake, data, query: _listing(fake, data, add=True),
    ("DELETE", "unsubscribed"): lambda fake, data, query: _listing(fake, data, add=False),
    ("POST", "unsubscribe"): _unsubscribe,
    ("POST", "faults"): _fault,
    ("GET", "faults"): lambda fake, data, query: fake.pending_faults(),
    ("DELETE", "faults"): _clear_faults,
    ("POST", "reset"): _reset,
}


def _json(status: int, data: Any) -> FakeResponse:
    return json_response(status, data, indent=1)
