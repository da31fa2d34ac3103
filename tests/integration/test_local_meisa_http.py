"""The API client against the local Meisa over real HTTP, faults included."""

from __future__ import annotations

import time

import pytest

from django_meisa.client import MeisaClient
from django_meisa.exceptions import MeisaRateLimitError, MeisaServerError, MeisaTimeoutError
from tests.integration.services import MEISA_KEY, LocalMeisa

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _client(meisa: LocalMeisa, read_timeout: float = 5.0) -> MeisaClient:
    return MeisaClient(api_key=MEISA_KEY, base_url=meisa.base_url, timeout=(2.0, read_timeout))


def test_upsert_and_suppression_list_over_http(local_meisa: LocalMeisa) -> None:
    client = _client(local_meisa)
    contact = client.upsert_contact({"email": "ada@example.com", "external_id": "1"})
    client.upsert_contact({"email": "ada@example.com", "custom_fields": {"plan": "pro"}})
    local_meisa.list_unsubscribed("gone@example.com")

    listing = client.fetch_unsubscribed_emails()

    assert contact["status"] == "active"
    assert local_meisa.contacts()["ada@example.com"]["custom_fields"] == {"plan": "pro"}
    assert [u["email"] for u in local_meisa.upserts()] == ["ada@example.com"] * 2
    assert listing.count == 1
    assert list(listing.emails) == ["gone@example.com"]


def test_server_errors_and_rate_limits_are_typed(local_meisa: LocalMeisa) -> None:
    client = _client(local_meisa)
    local_meisa.fault("server_error", times=1, status=503)
    local_meisa.fault("rate_limit", times=1, retry_after=7)

    with pytest.raises(MeisaServerError):
        client.upsert_contact({"email": "ada@example.com"})
    with pytest.raises(MeisaRateLimitError) as limited:
        client.upsert_contact({"email": "ada@example.com"})
    client.upsert_contact({"email": "ada@example.com"})

    assert limited.value.retry_after == 7
    assert len(local_meisa.upserts()) == 1


def test_a_hung_meisa_times_out_at_the_read_timeout(local_meisa: LocalMeisa) -> None:
    client = _client(local_meisa, read_timeout=1.0)
    local_meisa.fault("timeout", times=1, seconds=10)

    started = time.monotonic()
    with pytest.raises(MeisaTimeoutError):
        client.upsert_contact({"email": "ada@example.com"})

    assert time.monotonic() - started < 5
    assert local_meisa.upserts() == []
