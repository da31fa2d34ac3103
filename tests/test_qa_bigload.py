"""QA: a large first load and a diff refresh with odd entries, on every database and role."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from django.utils import timezone

from django_meisa.suppression import is_suppressed, refresh_suppressions, suppressed_among

pytestmark = pytest.mark.django_db(transaction=True)

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"
ODD = ["nul\x00@example.com", "lone\ud800@example.com", "a@b; c@d", "", " ", "x" * 600]


def load(emails: list[str], **options: Any) -> Any:
    body = {"as_of": timezone.now().isoformat(), "count": len(emails), "emails": emails}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        return refresh_suppressions(**options)


def test_large_first_load_then_diff_with_odd_entries():
    emails = [f"User{i}@Example.com" for i in range(20000)]
    first = load(emails[:10000] + ODD + ['"Q" <q@example.com>'] + emails[10000:])
    assert first.error is None
    assert first.rejected == len(ODD)
    assert is_suppressed("user0@example.com")
    assert is_suppressed("user19999@example.com")
    assert is_suppressed("q@example.com")
    second = load([*emails[5:], "new@example.com", *ODD])
    assert second.error is None
    assert is_suppressed("new@example.com")
    assert not is_suppressed("user0@example.com")
    found = suppressed_among([f"user{i}@example.com" for i in range(0, 20000, 997)])
    assert len(found) == len(range(0, 20000, 997)) - 1
