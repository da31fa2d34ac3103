"""MeisaClient speaks the documented contract, never follows redirects, and types its errors."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

import pytest
import requests
import responses

from django_meisa import __version__
from django_meisa.client import MeisaClient, parse_retry_after
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaConfigurationError,
    MeisaConnectionError,
    MeisaError,
    MeisaPayloadError,
    MeisaRateLimitError,
    MeisaRedirectError,
    MeisaRequestError,
    MeisaResponseError,
    MeisaServerError,
    MeisaTimeoutError,
)

BASE = "https://api.meisa.io/api/v1"
UPSERT = BASE + "/contacts/upsert/"
UNSUBSCRIBED = BASE + "/contacts/api/unsubscribed-emails/"
SECRET = "meisa_live_SECRET_value_123"


@pytest.fixture
def client():
    return MeisaClient(api_key=SECRET, base_url=BASE, timeout=(1.5, 4.0))


@responses.activate
def test_upsert_sends_the_documented_request(client):
    responses.post(UPSERT, json={"id": "c1", "email": "a@example.com", "status": "active"})
    contact = client.upsert_contact({"email": "a@example.com", "custom_fields": {"plan": "pro"}})
    assert contact["id"] == "c1"
    [call] = responses.calls
    assert call.request.url == UPSERT
    assert call.request.headers["X-API-Key"] == SECRET
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["User-Agent"] == f"django-meisa/{__version__}"
    assert json.loads(call.request.body) == {
        "email": "a@example.com",
        "custom_fields": {"plan": "pro"},
    }


def test_every_request_uses_the_connect_read_timeout(client, monkeypatch):
    seen = {}

    def fake_request(self, method, url, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectionError("stop here")

    monkeypatch.setattr(requests.Session, "request", fake_request)
    with pytest.raises(MeisaConnectionError):
        client.fetch_unsubscribed_emails()
    assert seen["timeout"] == (1.5, 4.0)
    assert seen["allow_redirects"] is False


@responses.activate
def test_unsubscribed_list_is_parsed(client):
    responses.get(
        UNSUBSCRIBED,
        json={"as_of": "2026-06-02T12:00:00Z", "count": 2, "emails": ["a@x.io", "b@x.io"]},
    )
    listing = client.fetch_unsubscribed_emails()
    assert listing.emails == ["a@x.io", "b@x.io"]
    assert listing.count == 2
    assert listing.as_of == dt.datetime(2026, 6, 2, 12, tzinfo=dt.timezone.utc)


@responses.activate
def test_odd_entries_reach_the_refresh_which_skips_and_counts_them(client):
    # One odd entry must not block the rest of the list (new unsubscribes included).
    body = {"as_of": "2026-06-02T12:00:00Z", "count": 3, "emails": ["a@x.io", None, 7]}
    responses.get(UNSUBSCRIBED, json=body)
    assert client.fetch_unsubscribed_emails().emails == ["a@x.io", None, 7]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"as_of": "2026-06-02T12:00:00Z", "count": 1},
        {"as_of": "2026-06-02T12:00:00Z", "count": 2, "emails": ["a@x.io"]},
        {"as_of": "2026-06-02T12:00:00Z", "count": "1", "emails": ["a@x.io"]},
        {"as_of": "yesterday", "count": 0, "emails": []},
        {"count": 0, "emails": []},
    ],
)
@responses.activate
def test_an_unusable_unsubscribed_list_is_a_clear_error(client, body):
    responses.get(UNSUBSCRIBED, json=body)
    with pytest.raises(MeisaResponseError, match="unusable list"):
        client.fetch_unsubscribed_emails()


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, MeisaRequestError, False),
        (401, MeisaAuthError, False),
        (403, MeisaAuthError, False),
        (404, MeisaRequestError, False),
        (409, MeisaRequestError, False),
        (422, MeisaRequestError, False),
        (429, MeisaRateLimitError, True),
        (500, MeisaServerError, True),
        (502, MeisaServerError, True),
        (503, MeisaServerError, True),
        (301, MeisaRedirectError, False),
        (302, MeisaRedirectError, False),
        (307, MeisaRedirectError, False),
    ],
)
@responses.activate
def test_statuses_map_to_typed_errors(client, status, error, retryable):
    headers = {"Location": "https://evil.example/steal"} if 300 <= status < 400 else {}
    responses.post(UPSERT, status=status, json={"detail": "x"}, headers=headers)
    with pytest.raises(error) as caught:
        client.upsert_contact({"email": "a@example.com"})
    assert caught.value.retryable is retryable
    assert caught.value.status_code == status
    assert isinstance(caught.value, MeisaError)
    assert len(responses.calls) == 1  # a redirect is never followed


@responses.activate
def test_rate_limit_carries_retry_after(client):
    responses.post(UPSERT, status=429, headers={"Retry-After": "17"})
    with pytest.raises(MeisaRateLimitError) as caught:
        client.upsert_contact({"email": "a@example.com"})
    assert caught.value.retry_after == 17.0


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    http_date = future.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 100 < parse_retry_after(http_date) <= 120


@responses.activate
def test_timeouts_and_connection_errors_are_retryable(client):
    responses.post(UPSERT, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(MeisaTimeoutError) as caught:
        client.upsert_contact({"email": "a@example.com"})
    assert caught.value.retryable
    responses.replace(responses.POST, UPSERT, body=requests.ConnectionError("refused"))
    with pytest.raises(MeisaConnectionError) as caught_conn:
        client.upsert_contact({"email": "a@example.com"})
    assert caught_conn.value.retryable


@pytest.mark.parametrize(
    "body",
    ["<html>bad gateway</html>", "[]", '{"email": "a@example.com"}', '{"id": 5, "email": "a"}'],
)
@responses.activate
def test_a_malformed_upsert_response_is_a_clear_error(client, body):
    responses.post(UPSERT, body=body, status=200)
    with pytest.raises(MeisaResponseError) as caught:
        client.upsert_contact({"email": "a@example.com"})
    assert "/contacts/upsert/" in str(caught.value)


@responses.activate
def test_invalid_payload_is_refused_before_sending(client):
    with pytest.raises(MeisaPayloadError):
        client.upsert_contact({"email": "a@example.com", "status": "subscribed"})
    assert len(responses.calls) == 0


def test_client_refuses_to_start_without_a_key(settings):
    settings.MEISA = {"API_KEY": ""}
    with pytest.raises(MeisaConfigurationError, match=r'MEISA\["API_KEY"\]'):
        MeisaClient()


def test_client_refuses_a_remote_http_url(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": "http://api.meisa.io/api/v1"}
    with pytest.raises(MeisaConfigurationError, match=r'MEISA\["BASE_URL"\] must use https'):
        MeisaClient()


def test_client_reads_settings_at_construction(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": "http://127.0.0.1:8765/api/v1/", "TIMEOUT": 2}
    client = MeisaClient()
    assert client.base_url == "http://127.0.0.1:8765/api/v1"
    assert client.timeout == (2.0, 2.0)


def test_session_is_lazy_reused_and_renewed_after_fork(client, monkeypatch):
    assert client._session is None
    first = client.session
    assert client.session is first
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert client.session is not first


def test_repr_hides_the_key(client):
    assert SECRET not in repr(client)
    assert SECRET not in str(vars(client).get("base_url"))


@responses.activate
def test_the_api_key_never_appears_in_logs_or_errors(client, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    failures = [
        dict(status=401, json={"detail": f"bad key {SECRET}"}),
        dict(status=500, body=f"trace with {SECRET}"),
        dict(status=429, headers={"Retry-After": "1"}),
        dict(status=302, headers={"Location": "https://evil.example/"}),
        dict(body=requests.ConnectionError("refused")),
        dict(body=requests.ReadTimeout("slow")),
        dict(status=200, body="not json"),
    ]
    for failure in failures:
        responses.upsert(responses.POST, UPSERT, **failure)
        with pytest.raises(MeisaError) as caught:
            client.upsert_contact({"email": "a@example.com"})
        err = caught.value
        texts += [str(err), repr(err), str(err.__cause__), repr(err.__cause__)]
    logging.getLogger("django_meisa").debug("client is %r", client)
    texts += [record.getMessage() for record in caplog.records]
    assert texts
    assert not [t for t in texts if SECRET in t]


# BASE_URL: the host requests connects to is the host the check approved -----------------

#: Each passed the urlsplit-based check before #11; requests would have sent the key
#: elsewhere, or in plain text, or with the path swallowed.
HOSTILE_URLS = [
    "http://evil\\@localhost/api/v1",  # urlsplit: localhost; requests: evil, plain http
    "https://evil\\@api.meisa.io/api/v1",  # requests connects to evil
    "http://localhost\\@evil.example/api/v1",
    "https://user:password@api.meisa.io/api/v1",  # userinfo in the authority
    "http://localhost:80@evil.example/api/v1",
    "http://localhost%2f@evil.example/api/v1",
    "http://localhost#@evil.example/api/v1",  # the appended path becomes a fragment
    "https://api.meisa.io/api/v1?x=@evil.example",
    "http://local\thost/api/v1",  # urlsplit silently drops tabs
    "https://api.meisa.io/api/v1\n",
    "https:///api/v1",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_base_urls_are_refused_by_the_client(url, settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": url}
    with pytest.raises(MeisaConfigurationError, match=r'MEISA\["BASE_URL"\]'):
        MeisaClient()


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_base_urls_are_e002(url, settings):
    from django_meisa.checks import check_settings

    settings.MEISA = {"API_KEY": "k", "BASE_URL": url}
    assert [e.id for e in check_settings()] == ["meisa.E002"]


@pytest.mark.parametrize(
    "url",
    [
        "https://api.meisa.io/api/v1",
        "https://API.Meisa.io:443/api/v1/",
        "http://127.0.0.1:8765/api/v1",
        "http://localhost/api/v1",
        "http://[::1]:8765/api/v1",
    ],
)
def test_ordinary_base_urls_still_pass(url, settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": url}
    assert MeisaClient().base_url == url.rstrip("/")


@responses.activate
def test_the_host_checked_is_the_host_requests_connects_to():
    from urllib3.util import parse_url

    from django_meisa.client import validate_base_url

    for url in ["http://127.0.0.1:8765/api/v1", "https://api.meisa.io/api/v1"]:
        assert validate_base_url(url) is None
        prepared = requests.Request("GET", url + "/contacts/upsert/").prepare()
        assert parse_url(prepared.url).host == parse_url(url).host


# An API key with a newline inside: refused before any request, never echoed ------------

ODD_KEYS = ["sk_live_QA_SECRET_1234\r\nX-Evil: 1", "sk_live_QA SECRET_1234", "sk_\x00SECRET"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_a_key_with_whitespace_or_controls_inside_is_refused_without_echoing_it(key, settings):
    settings.MEISA = {"API_KEY": key}
    with pytest.raises(MeisaConfigurationError) as raised:
        MeisaClient()
    assert "SECRET" not in str(raised.value)
    from django_meisa.checks import check_settings

    [error] = check_settings()
    assert error.id == "meisa.E001"
    assert "SECRET" not in error.msg


def test_a_trailing_newline_is_trimmed_not_refused(settings):
    settings.MEISA = {"API_KEY": "sk_live_key\n"}
    assert MeisaClient()._api_key == "sk_live_key"


def test_a_request_error_holding_the_key_is_not_chained(client, monkeypatch):
    import traceback

    def leaky(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.InvalidHeader(f"Invalid header value: {SECRET!r}")

    monkeypatch.setattr(client.session, "request", leaky)
    with pytest.raises(MeisaConnectionError) as raised:
        client.fetch_unsubscribed_emails()
    printed = "".join(traceback.format_exception(raised.value))
    assert SECRET not in printed
    assert raised.value.__cause__ is None
