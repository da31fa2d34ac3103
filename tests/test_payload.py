"""The upsert payload is validated and encoded to the letter of Meisa's contract."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from django_meisa.exceptions import MeisaPayloadError
from django_meisa.payload import encode_upsert_payload


def test_a_full_payload_encodes_to_json_types():
    payload = {
        "email": " sarah@example.com ",
        "external_id": 12345,
        "first_name": "Sarah",
        "last_name": None,
        "source": "signup",
        "custom_fields": {
            "plan": "pro",
            "signin_count": 27,
            "onboarding_completed": True,
            "signup_date": dt.datetime(2026, 1, 12, 8, 30, tzinfo=dt.timezone.utc),
            "trial_ends": dt.date(2026, 2, 1),
            "mrr": Decimal("49.50"),
            "seats": Decimal("3"),
            "account": uuid.UUID("550e8400-e29b-41d4-a716-446655440000"),
            "ratio": 0.5,
            "nickname": None,
        },
        "tag_names": ("paying-customer",),
    }
    assert encode_upsert_payload(payload) == {
        "email": "sarah@example.com",
        "external_id": "12345",
        "first_name": "Sarah",
        "source": "signup",
        "custom_fields": {
            "plan": "pro",
            "signin_count": 27,
            "onboarding_completed": True,
            "signup_date": "2026-01-12T08:30:00Z",
            "trial_ends": "2026-02-01",
            "mrr": 49.5,
            "seats": 3,
            "account": "550e8400-e29b-41d4-a716-446655440000",
            "ratio": 0.5,
            "nickname": None,
        },
        "tag_names": ["paying-customer"],
    }


def test_datetimes_in_other_zones_become_utc_with_z():
    karachi = dt.timezone(dt.timedelta(hours=5))
    encoded = encode_upsert_payload(
        {
            "email": "a@example.com",
            "custom_fields": {"last_active": dt.datetime(2026, 6, 1, 19, 5, tzinfo=karachi)},
        }
    )
    assert encoded["custom_fields"]["last_active"] == "2026-06-01T14:05:00Z"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": ""}, "email"),
        ({"email": "   "}, "email"),
        ({"email": None}, "email"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "a@example.com\r\nBcc: x@y.z"}, "email"),
        ({"email": "a@example.com", "status": "subscribed"}, "status"),
        ({"email": "a@example.com", "tags": ["x"]}, "tags"),
        ({"email": "a@example.com", "phone": "123"}, "phone"),
        ({"email": "a@example.com", "source": "webhook"}, "source"),
        ({"email": "a@example.com", "tag_names": "vip"}, "tag_names"),
        ({"email": "a@example.com", "tag_names": ["vip", 3]}, "tag_names"),
        ({"email": "a@example.com", "custom_fields": ["plan"]}, "custom_fields"),
        ({"email": "a@example.com", "custom_fields": {"x": object()}}, "custom_fields['x']"),
        ({"email": "a@example.com", "custom_fields": {"x": [1, 2]}}, "custom_fields['x']"),
        ({"email": "a@example.com", "custom_fields": {"x": float("nan")}}, "custom_fields['x']"),
        ({"email": "a@example.com", "custom_fields": {"x": Decimal("Inf")}}, "custom_fields['x']"),
        ({"email": "a@example.com", "first_name": 5}, "first_name"),
        ({"email": "a@example.com", "external_id": 1.5}, "external_id"),
    ],
)
def test_contract_violations_are_refused_naming_the_field(payload, field):
    with pytest.raises(MeisaPayloadError) as caught:
        encode_upsert_payload(payload)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_status_refusal_explains_why():
    with pytest.raises(MeisaPayloadError, match="never lets upsert set a contact's status"):
        encode_upsert_payload({"email": "a@example.com", "status": "unsubscribed"})


@pytest.mark.parametrize("source", ["api", "import", "manual", "signup", "initial_sync"])
def test_every_documented_source_is_accepted(source):
    assert encode_upsert_payload({"email": "a@example.com", "source": source})["source"] == source
