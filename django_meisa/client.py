"""MeisaClient: the two documented Meisa endpoints over one keep-alive HTTP session."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from django_meisa import __version__, conf
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaConfigurationError,
    MeisaConnectionError,
    MeisaRateLimitError,
    MeisaRedirectError,
    MeisaRequestError,
    MeisaResponseError,
    MeisaServerError,
    MeisaTimeoutError,
)
from django_meisa.payload import encode_upsert_payload

logger = logging.getLogger("django_meisa.client")

UPSERT_PATH = "/contacts/upsert/"
UNSUBSCRIBED_PATH = "/contacts/api/unsubscribed-emails/"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
USER_AGENT = f"django-meisa/{__version__}"


@dataclass(frozen=True)
class UnsubscribedList:
    """Meisa's do-not-email list as downloaded, validated whole; ``emails`` as sent (any
    JSON values: the refresh skips and counts an odd one, so it never blocks the rest)."""

    as_of: dt.datetime
    count: int
    emails: list[Any]


def validate_base_url(base_url: Any) -> str | None:
    """Return why ``base_url`` is unsafe to send the API key to, or None (client and E002).

    https only (http for localhost fakes). The URL must read the same with urllib3's
    ``parse_url`` (what requests connects with) and ``urlsplit``, and backslashes,
    whitespace, control characters and userinfo are refused, so no spelling can make a
    check see one host while requests connects to another.
    """
    if not isinstance(base_url, str) or not base_url:
        return "must be a URL string"
    if "\\" in base_url or any(ch.isspace() or not ch.isprintable() for ch in base_url):
        return "must not contain backslashes, spaces or control characters"
    try:
        parsed = parse_url(base_url)
        split = urlsplit(base_url)
        split_host = split.hostname
    except (LocationParseError, ValueError):
        return "is not a valid URL"
    if parsed.auth is not None or "@" in split.netloc:
        return "must not contain a user name or password (user@host)"
    if parsed.query is not None or parsed.fragment is not None:
        return "must not contain a query or fragment (? or #): paths are appended to it"
    host = (parsed.host or "").strip("[]").lower()
    if not host:
        return "has no host"
    if host != (split_host or "").lower():
        return "has a host that different URL parsers read differently"
    scheme = str(parsed.scheme or "").lower()
    if scheme == "https" or (scheme == "http" and host in LOCAL_HOSTS):
        return None
    if scheme == "http":
        return "must use https (plain http is allowed only for localhost and 127.0.0.1)"
    return "must be an https:// URL"


def api_key_problem(key: str) -> str | None:
    """Return why ``key`` can't be sent as a header, or None (client and E001; never the key).

    A key read from a file often ends in a newline, which requests refuses with the key
    in its error text.
    """
    stripped = key.strip()
    if all(33 <= ord(ch) <= 126 for ch in stripped):
        return None
    return (
        "contains whitespace, control or non-ASCII characters inside it (a newline from "
        "a file or secret store?); set the bare key"
    )


class MeisaClient:
    """A client for Meisa's upsert and unsubscribed-emails endpoints.

    Settings are read when it is built (``api_key``, ``base_url``, ``timeout`` override
    them). It refuses a missing key or an unsafe URL itself: checks don't run under WSGI.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        key = api_key if api_key is not None else conf.get_setting("API_KEY")
        if not isinstance(key, str) or not key.strip():
            raise MeisaConfigurationError(
                'MEISA["API_KEY"] is not set. Add your Meisa API key to the MEISA dict in '
                'settings.py, or set MEISA["ENABLED"] = False to turn django-meisa off.'
            )
        problem = api_key_problem(key)
        if problem:
            raise MeisaConfigurationError(f'MEISA["API_KEY"] {problem}.')
        url = base_url if base_url is not None else conf.get_setting("BASE_URL")
        problem = validate_base_url(url)
        if problem:
            raise MeisaConfigurationError(f'MEISA["BASE_URL"] {problem}.')
        self._api_key = key.strip()
        self.base_url = url.rstrip("/")
        self.timeout = timeout if timeout is not None else conf.timeout()
        self._session: requests.Session | None = None
        self._session_pid: int | None = None

    def __repr__(self) -> str:
        return f"<MeisaClient base_url={self.base_url!r}>"

    def upsert_contact(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update a contact; return Meisa's contact (string ``id`` and ``email``).

        Raises ``MeisaPayloadError`` before sending, and the typed errors of a failed call.
        """
        body = encode_upsert_payload(payload)
        contact = self.request("POST", UPSERT_PATH, json_body=body)
        return self.parse_contact(contact)

    def fetch_unsubscribed_emails(self) -> UnsubscribedList:
        """Download the whole do-not-email list; ``MeisaResponseError`` unless it is whole."""
        data = self.request("GET", UNSUBSCRIBED_PATH)
        return self.parse_unsubscribed(data)

    def close(self) -> None:
        """Close the keep-alive session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def create_session(self) -> requests.Session:
        """Return a new ``requests.Session`` with Meisa's headers (override to mount adapters)."""
        session = requests.Session()
        session.headers.update(
            {
                "X-API-Key": self._api_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        return session

    @property
    def session(self) -> requests.Session:
        """The process's session, re-created after a fork (a pool must not cross it)."""
        if self._session is None or self._session_pid != os.getpid():
            self._session = self.create_session()
            self._session_pid = os.getpid()
        return self._session

    def request(self, method: str, path: str, *, json_body: Any = None) -> Any:
        """Send one request (redirects never followed); return its JSON body, or raise."""
        url = self.base_url + path
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":"))
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, data=data, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout as err:
            raise MeisaTimeoutError(
                f"Meisa {method} {path} timed out after {self.timeout} seconds"
            ) from self._safe_cause(err)
        except requests.RequestException as err:
            # Chained for debugging, unless the text holds the key (a header error does).
            raise MeisaConnectionError(
                f"Meisa {method} {path} failed: {type(err).__name__}"
            ) from self._safe_cause(err)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("Meisa %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)
        self.raise_for_status(response, method, path)
        return self.decode_json(response, method, path)

    def _safe_cause(self, err: BaseException) -> BaseException | None:
        # A traceback (Celery's retry logs, Sentry) prints the chained cause in full.
        return None if self._api_key in repr(err.args) or self._api_key in str(err) else err

    def raise_for_status(self, response: requests.Response, method: str, path: str) -> None:
        """Raise the typed error for a non-2xx ``response``. Called by ``request``."""
        status = response.status_code
        if 200 <= status < 300:
            return
        context: dict[str, Any] = {
            "status_code": status,
            "method": method,
            "path": path,
            "request_id": response.headers.get("X-Request-Id"),
            "response_text": response.text,
        }
        message = f"Meisa {method} {path} returned HTTP {status}"
        if 300 <= status < 400:
            raise MeisaRedirectError(
                f"{message} (a redirect, never followed so the API key stays with Meisa; "
                'check MEISA["BASE_URL"])',
                **context,
            )
        if status in (401, 403):
            raise MeisaAuthError(f'{message}: check MEISA["API_KEY"] and its scopes', **context)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise MeisaRateLimitError(
                f"{message} (rate limited)", retry_after=retry_after, **context
            )
        if status >= 500:
            raise MeisaServerError(message, **context)
        raise MeisaRequestError(message, **context)

    def decode_json(self, response: requests.Response, method: str, path: str) -> Any:
        """Return the JSON body of a 2xx ``response``, or raise ``MeisaResponseError``."""
        try:
            return response.json()
        except ValueError:
            raise _bad_body(method, path, "a body that is not JSON", response) from None

    @staticmethod
    def parse_contact(data: Any) -> dict[str, Any]:
        """Return the upsert response if it is a contact object, else raise."""
        if not isinstance(data, dict) or not all(
            isinstance(data.get(key), str) for key in ("id", "email")
        ):
            what = "something other than a contact (a JSON object with string 'id' and 'email')"
            raise _bad_body("POST", UPSERT_PATH, what)
        return data

    @staticmethod
    def parse_unsubscribed(data: Any) -> UnsubscribedList:
        """Return the unsubscribed-emails body as an ``UnsubscribedList``, validated whole."""

        def bad(why: str) -> MeisaResponseError:
            return _bad_body("GET", UNSUBSCRIBED_PATH, f"an unusable list: {why}")

        if not isinstance(data, dict):
            raise bad("the body is not a JSON object")
        emails = data.get("emails")
        if not isinstance(emails, list):
            raise bad("'emails' is not a list")
        count = data.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count != len(emails):
            raise bad(f"'count' ({count!r}) does not match the {len(emails)} emails received")
        as_of = _parse_iso_datetime(data.get("as_of"))
        if as_of is None:
            raise bad("'as_of' is missing or not an ISO 8601 datetime")
        return UnsubscribedList(as_of=as_of, count=count, emails=emails)


def _bad_body(
    method: str, path: str, what: str, response: requests.Response | None = None
) -> MeisaResponseError:
    return MeisaResponseError(
        f"Meisa {method} {path} returned {what}",
        status_code=200 if response is None else response.status_code,
        method=method,
        path=path,
        response_text="" if response is None else response.text,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Return a ``Retry-After`` header (seconds or an HTTP date) as seconds, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _parse_iso_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
