"""The client's payload rules and the fake Meisa's contract agree, and both match Meisa's doc.

``django_meisa.payload`` (what the client sends) and ``django_meisa.testing.contract``
(what the fake accepts) are written separately on purpose; these tests fail when one of
them drifts, instead of a wrong constant passing both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from django_meisa import payload
from django_meisa.exceptions import MeisaPayloadError
from django_meisa.testing import FakeMeisa, contract
from django_meisa.testing.fake import DEFAULT_API_KEY

# Meisa's published description of the two endpoints, next to the checkout when present.
API_DOC = Path(__file__).resolve().parents[2] / "shared" / "meisa-api.md"
GOOD = {"email": "ada@example.com"}


def fake_accepts(body: dict) -> bool:
    """Send ``body`` to a fresh fake Meisa's upsert endpoint; True when it answers 2xx."""
    fake = FakeMeisa()
    headers = {"X-API-Key": DEFAULT_API_KEY, "Content-Type": "application/json"}
    path = fake.base_path + contract.UPSERT_PATH
    return fake.handle("POST", path, headers, json.dumps(body).encode()).status < 300


def client_accepts(body: dict) -> bool:
    """True when the client's encoder would send ``body``."""
    try:
        payload.encode_upsert_payload(body)
    except MeisaPayloadError:
        return False
    return True


def test_same_fields_sources_and_refused_fields():
    assert set(contract.UPSERT_FIELDS) == payload.ALLOWED_FIELDS
    assert contract.SOURCES == payload.SOURCES
    assert set(payload.FORBIDDEN_FIELDS) == contract.REFUSED_FIELDS


@pytest.mark.parametrize("source", sorted(contract.SOURCES | {"admin", "API", ""}))
def test_both_accept_exactly_the_documented_sources(source):
    body = {**GOOD, "source": source}
    assert client_accepts(body) == fake_accepts(body) == (source in contract.SOURCES)


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "unsubscribed"},
        {"tags": ["vip"]},
        {"phone": "+1 555"},
        {"custom_fields": ["not", "an", "object"]},
        {"tag_names": "vip"},
        {"first_name": "Ada", "last_name": "Lovelace", "display_name": "Ada L."},
        {"external_id": "42", "custom_fields": {"plan": "pro"}, "tag_names": ["vip"]},
    ],
    ids=lambda extra: ",".join(extra),
)
def test_both_accept_or_refuse_the_same_bodies(extra):
    body = {**GOOD, **extra}
    assert client_accepts(body) == fake_accepts(body)


def test_both_require_an_email():
    assert not client_accepts({"external_id": "42"})
    assert not fake_accepts({"external_id": "42"})


@pytest.mark.skipif(not API_DOC.is_file(), reason=f"Meisa's API description not at {API_DOC}")
def test_contract_matches_meisas_published_description():
    text = API_DOC.read_text()
    table = re.findall(r"^(\w+?)(?:required)? \| (string\[\]|string|object) \|", text, re.M)
    assert {name for name, _ in table} == set(contract.UPSERT_FIELDS)
    kinds = {"string": str, "object": dict, "string[]": list}
    assert {name: kinds[kind] for name, kind in table} == contract.UPSERT_FIELDS
    sources = re.search(r"One of ([a-z_, ]+)\. Defaults to (\w+)", text)
    assert sources is not None
    assert {s.strip() for s in sources.group(1).split(",")} == contract.SOURCES
    assert sources.group(2) == contract.DEFAULT_SOURCE
    assert "There is no status or tags field on upsert" in text
    assert contract.UPSERT_PATH in text
    assert contract.UNSUBSCRIBED_PATH in text
    assert "(unsubscribed, bounced, or complained)" in text


def test_the_test_kit_never_imports_the_clients_payload_rules():
    kit = Path(contract.__file__).parent
    offenders = [f.name for f in kit.glob("*.py") if "django_meisa.payload" in f.read_text()]
    assert offenders == []
