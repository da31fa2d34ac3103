"""The fake Meisa enforces the documented contract, and injects each fault kind."""

from __future__ import annotations

import pytest
import requests

from django_meisa.client import MeisaClient
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaRateLimitError,
    MeisaRedirectError,
    MeisaRequestError,
    MeisaResponseError,
    MeisaServerError,
    MeisaTimeoutError,
)
from django_meisa.testing import FakeMeisa, fake_meisa

UPSERT = "https://api.meisa.io/api/v1/contacts/upsert/"


def upsert(**payload):
    return MeisaClient().upsert_contact(payload)


def raw_post(body, key="meisa_test_key", content_type="application/json"):
    return requests.post(
        UPSERT, data=body, headers={"X-API-Key": key, "Content-Type": content_type}, timeout=1
    )


def test_create_returns_the_full_contact(meisa_fake):
    contact = upsert(
        email="sarah@example.com",
        external_id="usr_1",
        first_name="Sarah",
        custom_fields={"plan": "pro"},
        tag_names=["paying-customer"],
    )
    assert contact["email"] == "sarah@example.com"
    assert contact["external_id"] == "usr_1"
    assert contact["status"] == "active"
    assert contact["source"] == "api"
    assert contact["custom_fields"] == {"plan": "pro"}
    assert [t["name"] for t in contact["tags"]] == ["paying-customer"]
    assert contact["tags"][0]["slug"] == "paying-customer"
    for key in ("id", "total_emails_sent", "open_rate", "created_at", "updated_at"):
        assert key in contact


def test_matches_by_external_id_first_and_rekeys_the_email(meisa_fake):
    first = upsert(email="old@example.com", external_id="u1")
    second = upsert(email="new@example.com", external_id="u1")
    assert second["id"] == first["id"]
    assert second["email"] == "new@example.com"
    assert meisa_fake.contact("old@example.com") is None
    assert len(meisa_fake.dump()) == 1


def test_matches_by_email_when_external_id_is_unknown(meisa_fake):
    first = upsert(email="a@example.com")
    second = upsert(email="A@Example.com", external_id="u9")
    assert second["id"] == first["id"]
    assert meisa_fake.contact(external_id="u9")["id"] == first["id"]


def test_rekeying_onto_another_contacts_email_is_a_conflict(meisa_fake):
    upsert(email="a@example.com", external_id="u1")
    upsert(email="b@example.com", external_id="u2")
    with pytest.raises(MeisaRequestError) as caught:
        upsert(email="b@example.com", external_id="u1")
    assert caught.value.status_code == 409


def test_custom_fields_merge_and_tags_only_add(meisa_fake):
    upsert(email="a@example.com", custom_fields={"plan": "free", "country": "PK"}, tag_names=["x"])
    contact = upsert(email="a@example.com", custom_fields={"plan": "pro"}, tag_names=["y"])
    assert contact["custom_fields"] == {"plan": "pro", "country": "PK"}
    assert [t["name"] for t in contact["tags"]] == ["x", "y"]
    contact = upsert(email="a@example.com", tag_names=["x"])
    assert [t["name"] for t in contact["tags"]] == ["x", "y"]


def test_source_defaults_to_api_and_the_original_is_kept(meisa_fake):
    assert upsert(email="a@example.com")["source"] == "api"
    assert upsert(email="b@example.com", source="signup")["source"] == "signup"
    assert upsert(email="b@example.com", source="initial_sync")["source"] == "signup"


def test_status_is_refused_and_only_the_fakes_controls_change_it(meisa_fake):
    upsert(email="a@example.com")
    response = raw_post(b'{"email": "a@example.com", "status": "active"}')
    assert response.status_code == 400
    assert "status" in response.json()
    assert raw_post(b'{"email": "a@example.com", "tags": []}').status_code == 400
    meisa_fake.unsubscribe("a@example.com")
    assert upsert(email="a@example.com")["status"] == "unsubscribed"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"first_name": "x"}', 422),
        (b'{"email": "a@example.com", "source": "web"}', 400),
        (b'{"email": "a@example.com", "tag_names": "vip"}', 400),
        (b'{"email": "a@example.com", "custom_fields": []}', 400),
        (b'{"email": "a@example.com", "phone": "1"}', 400),
        (b"not json", 400),
    ],
)
def test_contract_violations_are_refused(meisa_fake, body, status):
    assert raw_post(body).status_code == status
    assert meisa_fake.dump() == []


def test_the_api_key_is_required(meisa_fake):
    assert raw_post(b'{"email": "a@example.com"}', key="wrong").status_code == 401
    assert raw_post(b'{"email": "a@example.com"}', content_type="text/plain").status_code == 415
    with pytest.raises(MeisaAuthError):
        MeisaClient(api_key="wrong").upsert_contact({"email": "a@example.com"})


def test_paths_need_their_trailing_slash(meisa_fake):
    response = requests.post(
        UPSERT.rstrip("/"),
        json={"email": "a@example.com"},
        headers={"X-API-Key": "meisa_test_key"},
        timeout=1,
    )
    assert response.status_code == 404


def test_unsubscribed_list_comes_from_state(meisa_fake):
    upsert(email="a@example.com")
    meisa_fake.unsubscribe("a@example.com", status="bounced")
    meisa_fake.add_unsubscribed("ghost@example.com")
    listing = MeisaClient().fetch_unsubscribed_emails()
    assert sorted(listing.emails) == ["a@example.com", "ghost@example.com"]
    assert listing.count == 2
    meisa_fake.remove_unsubscribed("a@example.com")
    assert MeisaClient().fetch_unsubscribed_emails().emails == ["ghost@example.com"]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", MeisaServerError),
        ("rate_limit", MeisaRateLimitError),
        ("timeout", MeisaTimeoutError),
        ("malformed", MeisaResponseError),
        ("redirect", MeisaRedirectError),
    ],
)
def test_each_fault_fails_the_next_n_calls_then_recovers(meisa_fake, kind, error):
    meisa_fake.inject_fault(kind, times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(error) as caught:
            upsert(email="a@example.com")
    if kind == "rate_limit":
        assert caught.value.retry_after == 7
    assert upsert(email="a@example.com")["email"] == "a@example.com"
    assert len(meisa_fake.upserts) == 1


def test_faults_can_target_one_endpoint(meisa_fake):
    meisa_fake.inject_fault("server_error", path="unsubscribed-emails")
    upsert(email="a@example.com")
    with pytest.raises(MeisaServerError):
        MeisaClient().fetch_unsubscribed_emails()


def test_requests_are_recorded_without_the_key(meisa_fake):
    upsert(email="a@example.com")
    [request] = meisa_fake.requests
    assert request.method == "POST"
    assert request.json == {"email": "a@example.com"}
    assert "x-api-key" not in request.headers


def test_context_manager_configures_settings_and_restores_them(settings):
    settings.MEISA = {"API_KEY": "site-key", "ENABLED": True}
    with fake_meisa(api_key="k2", base_url="https://meisa.test/api/v1") as fake:
        from django.conf import settings as live

        assert live.MEISA == {
            "API_KEY": "k2",
            "ENABLED": True,
            "BASE_URL": "https://meisa.test/api/v1",
        }
        MeisaClient().upsert_contact({"email": "a@example.com"})
        assert fake.upserts == [{"email": "a@example.com"}]
    from django.conf import settings as after

    assert after.MEISA == {"API_KEY": "site-key", "ENABLED": True}


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        FakeMeisa().inject_fault("explode")


def test_configure_settings_false_leaves_meisa_settings_alone_and_still_intercepts(settings):
    settings.MEISA = {"API_KEY": "site_key", "BASE_URL": "https://meisa.example.com/api/v1"}
    with fake_meisa(configure_settings=False) as fake:
        assert settings.MEISA["API_KEY"] == "site_key"
        assert raw_post(b'{"email": "ada@example.com"}').status_code == 200
    assert fake.contact("ada@example.com") is not None


def test_configure_settings_points_meisa_at_the_fake_for_the_block_only(settings):
    settings.MEISA = {"API_KEY": "site_key", "ENABLED": True}
    with fake_meisa():
        from django.conf import settings as live

        assert live.MEISA == {
            "API_KEY": "meisa_test_key",
            "ENABLED": True,
            "BASE_URL": "https://api.meisa.io/api/v1",
        }
    assert settings.MEISA == {"API_KEY": "site_key", "ENABLED": True}
