"""FakeMeisa: an in-memory Meisa that enforces the documented contract.

Transport-neutral: ``handle()`` takes a method, path, headers and body and returns a
``FakeResponse``. The ``responses`` door (``django_meisa.testing.fake_meisa``) and the
HTTP door (``django_meisa.testing.server``) both call it, so there is one fake.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django_meisa.testing.contract import (
    API_KEY_HEADER,
    DEFAULT_SOURCE,
    SUPPRESSING_STATUSES,
    UNSUBSCRIBED_PATH,
    UPSERT_PATH,
    upsert_problems,
)

DEFAULT_API_KEY = "meisa_test_key"
DEFAULT_BASE_URL = "https://api.meisa.io/api/v1"
FAULT_KINDS = frozenset({"server_error", "rate_limit", "timeout", "malformed", "redirect"})
_KEY_HEADER = API_KEY_HEADER.lower()


@dataclass
class FakeResponse:
    """What the fake answers. ``hang`` asks the door to simulate a timeout instead.

    The ``responses`` door raises a read timeout at once; the HTTP door holds the
    connection silent for ``hang_seconds`` first, as a stuck Meisa would.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    hang_seconds: float = 0.0


@dataclass
class RecordedRequest:
    """One request the fake received. Headers are kept without the API key."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]
    status: int
    #: False when an injected fault answered instead of the contact store.
    applied: bool = True


@dataclass
class _Fault:
    kind: str
    remaining: int
    path: str | None
    retry_after: int
    status: int
    hang_seconds: float = 30.0


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class FakeMeisa:
    """A faithful in-memory Meisa: upsert matching, merging and the unsubscribed list.

    Thread-safe, so the threaded HTTP door can share it. Controls (``unsubscribe``,
    ``add_unsubscribed``, ``inject_fault``) change its state the way Meisa itself would.
    """

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, base_url: str = DEFAULT_BASE_URL) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every contact, listed address, fault and recorded request."""
        with self._lock:
            self.contacts: dict[str, dict[str, Any]] = {}
            # Indexes, so a 100,000-contact backfill is never slowed by the fake.
            self._ids_by_external_id: dict[str, str] = {}
            self._ids_by_email: dict[str, str] = {}
            self.extra_unsubscribed: dict[str, None] = {}
            self.requests: list[RecordedRequest] = []
            self._faults: deque[_Fault] = deque()

    # Inspection -----------------------------------------------------------------------

    @property
    def upserts(self) -> list[dict[str, Any]]:
        """The bodies of every upsert the contact store accepted, in order."""
        with self._lock:
            return [
                r.json
                for r in self.requests
                if r.path.endswith(UPSERT_PATH) and r.applied and 200 <= r.status < 300
            ]

    def contact(self, email: str | None = None, *, external_id: str | None = None) -> Any:
        """Return the stored contact for an email or external id, or None."""
        with self._lock:
            if external_id is not None:
                return self._by_external_id(str(external_id))
            return self._by_email(email or "")

    def dump(self) -> list[dict[str, Any]]:
        """Return every contact as Meisa would return it, oldest first."""
        with self._lock:
            return [self._render(c) for c in self.contacts.values()]

    # Controls -------------------------------------------------------------------------

    def unsubscribe(self, email: str, status: str = "unsubscribed") -> None:
        """Set a contact's status as the contact or Meisa would (creating it if needed)."""
        if status not in SUPPRESSING_STATUSES | {"active"}:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            contact = self._by_email(email)
            if contact is None:
                contact = self._create({"email": email, "source": "manual"})
            contact["status"] = status
            contact["updated_at"] = _now()

    def add_unsubscribed(self, *emails: str) -> None:
        """List addresses as must-not-email without a contact behind them."""
        with self._lock:
            for email in emails:
                self.extra_unsubscribed[email] = None

    def remove_unsubscribed(self, *emails: str) -> None:
        """Stop listing addresses (an un-suppression on Meisa's side)."""
        with self._lock:
            for email in emails:
                self.extra_unsubscribed.pop(email, None)
                contact = self._by_email(email)
                if contact is not None:
                    contact["status"] = "active"

    def unsubscribed_emails(self) -> list[str]:
        """The list the unsubscribed-emails endpoint serves now."""
        with self._lock:
            listed = dict(self.extra_unsubscribed)
            for contact in self.contacts.values():
                if contact["status"] in SUPPRESSING_STATUSES:
                    listed[contact["email"]] = None
            return list(listed)

    def inject_fault(
        self,
        kind: str,
        times: int = 1,
        *,
        path: str | None = None,
        retry_after: int = 1,
        status: int = 500,
        hang_seconds: float = 30.0,
    ) -> None:
        """Make the next ``times`` matching calls fail with ``kind``.

        Kinds: ``server_error`` (``status``, default 500), ``rate_limit`` (429 with
        ``Retry-After: retry_after``), ``timeout`` (the ``responses`` door raises a read
        timeout; the HTTP door stays silent for ``hang_seconds``, then answers 504),
        ``malformed`` (200 with a body that is not JSON) and ``redirect`` (302 to
        another host). ``path`` limits the fault to paths containing it.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, times, path, retry_after, status, hang_seconds))

    def pending_faults(self) -> list[dict[str, Any]]:
        """The injected faults not used up yet, oldest first, with calls ``remaining``."""
        with self._lock:
            return [dict(vars(fault)) for fault in self._faults]

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet; contacts are kept."""
        with self._lock:
            self._faults.clear()

    # The API ----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> FakeResponse:
        """Answer one request as Meisa would, and record it."""
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            fault = self._fault_for(path)
            response = fault or self._route(method, path, headers, body)
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    json=parse_json(body),
                    headers={k: v for k, v in headers.items() if k != _KEY_HEADER},
                    status=response.status,
                    applied=fault is None,
                )
            )
            return response

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> FakeResponse:
        endpoint = path.split("?", 1)[0]
        if endpoint == self.base_path + UPSERT_PATH:
            allowed = "POST"
        elif endpoint == self.base_path + UNSUBSCRIBED_PATH:
            allowed = "GET"
        else:
            return json_response(404, {"detail": "Not found."})
        if method != allowed:
            return json_response(405, {"detail": f'Method "{method}" not allowed.'})
        if headers.get(_KEY_HEADER) != self.api_key:
            return json_response(401, {"detail": "Invalid or missing API key."})
        if allowed == "GET":
            emails = self.unsubscribed_emails()
            return json_response(200, {"as_of": _now(), "count": len(emails), "emails": emails})
        return self._upsert(headers, body)

    def _upsert(self, headers: dict[str, str], body: bytes | None) -> FakeResponse:
        if not headers.get("content-type", "").startswith("application/json"):
            return json_response(415, {"detail": "Content-Type must be application/json."})
        data = parse_json(body)
        if not isinstance(data, dict):
            return json_response(400, {"detail": "The body must be a JSON object."})
        problems = upsert_problems(data)
        if problems:
            return json_response(422 if "email" in problems else 400, problems)
        contact = self._match(data)
        owner = self._by_email(data["email"])
        if contact is not None and owner is not None and owner is not contact:
            return json_response(409, {"email": ["Another contact already has this email."]})
        if contact is None:
            contact = self._create(data)
        else:
            self._update(contact, data)
        return json_response(200, self._render(contact))

    # Contact store --------------------------------------------------------------------

    def _match(self, data: dict[str, Any]) -> dict[str, Any] | None:
        if data.get("external_id") is not None:
            contact = self._by_external_id(data["external_id"])
            if contact is not None:
                return contact
        return self._by_email(data["email"])

    def _by_external_id(self, external_id: str) -> dict[str, Any] | None:
        return self.contacts.get(self._ids_by_external_id.get(external_id, ""))

    def _by_email(self, email: str) -> dict[str, Any] | None:
        return self.contacts.get(self._ids_by_email.get(email.strip().lower(), ""))

    def _index(self, contact: dict[str, Any], *, email: str, external_id: str | None) -> None:
        if contact["email"].lower() != email.lower():
            self._ids_by_email.pop(contact["email"].lower(), None)
        if contact["external_id"] not in (None, external_id):
            self._ids_by_external_id.pop(contact["external_id"], None)
        contact["email"] = email
        contact["external_id"] = external_id
        self._ids_by_email[email.lower()] = contact["id"]
        if external_id is not None:
            self._ids_by_external_id[external_id] = contact["id"]

    def _create(self, data: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        contact: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "email": data["email"],
            "external_id": data.get("external_id"),
            "first_name": data.get("first_name", ""),
            "last_name": data.get("last_name", ""),
            "display_name": data.get("display_name", ""),
            "source": data.get("source", DEFAULT_SOURCE),
            "custom_fields": dict(data.get("custom_fields") or {}),
            "tags": [],
            "status": "active",
            "total_emails_sent": 0,
            "open_rate": 0.0,
            "created_at": now,
            "updated_at": now,
        }
        self._add_tags(contact, data.get("tag_names") or [])
        self.contacts[contact["id"]] = contact
        self._index(contact, email=contact["email"], external_id=contact["external_id"])
        return contact

    def _update(self, contact: dict[str, Any], data: dict[str, Any]) -> None:
        # Matched by external_id: the email is re-keyed. Source is kept as first set.
        external_id = data.get("external_id")
        self._index(
            contact,
            email=data["email"],
            external_id=contact["external_id"] if external_id is None else external_id,
        )
        for name in ("first_name", "last_name", "display_name"):
            if name in data:
                contact[name] = data[name]
        contact["custom_fields"].update(data.get("custom_fields") or {})
        self._add_tags(contact, data.get("tag_names") or [])
        contact["updated_at"] = _now()

    @staticmethod
    def _add_tags(contact: dict[str, Any], names: Iterable[str]) -> None:
        have = {t["name"] for t in contact["tags"]}
        for name in names:
            if name not in have:
                contact["tags"].append({"id": str(uuid.uuid4()), "name": name, "slug": _slug(name)})
                have.add(name)

    @staticmethod
    def _render(contact: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(contact))

    # Faults -----------------------------------------------------------------------------

    def _fault_for(self, path: str) -> FakeResponse | None:
        for fault in self._faults:
            if fault.path is None or fault.path in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return _fault_response(fault)
        return None


def _fault_response(fault: _Fault) -> FakeResponse:
    if fault.kind == "server_error":
        return json_response(fault.status, {"detail": "Internal server error."})
    if fault.kind == "rate_limit":
        return FakeResponse(
            429, b'{"detail":"Too many requests."}', {"Retry-After": str(fault.retry_after)}
        )
    if fault.kind == "timeout":
        return FakeResponse(504, b"", hang=True, hang_seconds=fault.hang_seconds)
    if fault.kind == "malformed":
        return FakeResponse(200, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
    return FakeResponse(302, b"", {"Location": "https://elsewhere.invalid/steal"})


def json_response(status: int, data: Any, indent: int | None = None) -> FakeResponse:
    """A JSON answer (``indent`` for the controls, which people read)."""
    body = json.dumps(data, indent=indent).encode()
    return FakeResponse(status, body, {"Content-Type": "application/json"})


def parse_json(body: bytes | None) -> Any:
    """The body's JSON value, or None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
