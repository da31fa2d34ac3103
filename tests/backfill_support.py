"""Helpers for the backfill tests: users that pre-date django-meisa, a command runner."""

from __future__ import annotations

import io
import os
import signal
from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command

from django_meisa.testing import FakeMeisa
from django_meisa.testing.fake import FakeResponse


def make_users(count: int, *, start: int = 0, **fields: Any) -> list[Any]:
    """Create ``count`` users with ``bulk_create``: no post_save, like a site's old users."""
    user_model = get_user_model()
    users = [
        user_model(**{"username": f"user{i}", "email": f"user{i}@example.com", **fields})
        for i in range(start, start + count)
    ]
    user_model.objects.bulk_create(users)
    return list(user_model.objects.order_by("pk"))


def backfill(*args: str) -> str:
    """Run ``meisa_backfill`` with ``args``; return its output (raises CommandError)."""
    out = io.StringIO()
    call_command("meisa_backfill", *args, stdout=out, stderr=out)
    return out.getvalue()


def upsert_counts(fake: FakeMeisa) -> Counter[str]:
    """How many accepted upserts each external id received."""
    return Counter(body["external_id"] for body in fake.upserts)


def assert_each_once(fake: FakeMeisa, users: list[Any]) -> None:
    """Every user reached Meisa exactly once, with source initial_sync."""
    counts = upsert_counts(fake)
    assert counts == Counter({str(u.pk): 1 for u in users})
    assert {body["source"] for body in fake.upserts} == {"initial_sync"}


class InterruptingMeisa(FakeMeisa):
    """A FakeMeisa that sends this process SIGINT (a Ctrl-C) after ``after`` upserts."""

    def __init__(self, after: int, **kwargs: Any) -> None:
        self.after = after
        self.seen = 0
        super().__init__(**kwargs)

    def handle(self, method: str, path: str, headers: Any, body: bytes | None) -> FakeResponse:
        """Answer as Meisa would; on the ``after``-th upsert, press Ctrl-C."""
        response = super().handle(method, path, headers, body)
        if path.endswith("/contacts/upsert/"):
            with self._lock:
                self.seen += 1
                if self.seen == self.after:
                    os.kill(os.getpid(), signal.SIGINT)
        return response


class StubClient:
    """A MeisaClient stand-in that answers every upsert at once and keeps nothing.

    For the memory test: a recording fake grows with every request, this does not.
    """

    def upsert_contact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Return a contact for ``payload``."""
        return {"id": "c", "email": payload["email"], "status": "active"}

    def close(self) -> None:
        """Nothing to close."""
