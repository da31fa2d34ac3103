"""QA (#11): meisa_refresh_suppressions' exit statuses and output for odd lists and dates."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import responses
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_meisa.suppression import is_suppressed

pytestmark = pytest.mark.django_db

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


def run(*emails: str, as_of: Any = None, args: tuple[str, ...] = ()) -> tuple[int, str]:
    as_of = as_of or timezone.now().isoformat()
    body = {"as_of": as_of, "count": len(emails), "emails": list(emails)}
    out, err = io.StringIO(), io.StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        try:
            call_command("meisa_refresh_suppressions", *args, stdout=out, stderr=err)
            code = 0
        except CommandError as error:
            code = error.returncode or 1
            err.write(str(error))
    return code, out.getvalue() + err.getvalue()


def test_rejected_entries_exit_zero_and_are_reported():
    code, text = run("ok@example.com", "bad\x00@example.com", "a@b; c@d")
    assert code == 0, text
    assert "rejected 2" in text
    assert "bad" not in text.replace("rejected", "")  # no address echoed
    assert is_suppressed("ok@example.com")


def test_older_list_fails_then_force_applies():
    now = timezone.now()
    assert run("a@example.com", as_of=now.isoformat())[0] == 0
    older = (now - dt.timedelta(hours=1)).isoformat()
    code, _text = run("b@example.com", as_of=older)
    assert code != 0
    assert not is_suppressed("b@example.com")
    code, text = run("b@example.com", "a@example.com", as_of=older, args=("--force",))
    assert code == 0, text
    assert is_suppressed("b@example.com")


def test_reset_as_of_then_older_list_applies():
    now = timezone.now()
    run("a@example.com", as_of=now.isoformat())
    older = (now - dt.timedelta(hours=1)).isoformat()
    code, text = run("a@example.com", "c@example.com", as_of=older, args=("--reset-as-of",))
    assert code == 0, text
    assert is_suppressed("c@example.com")


def test_disabled_exits_non_zero():
    with override_settings(MEISA={**settings.MEISA, "ENABLED": False}):
        assert run("a@example.com")[0] != 0


@pytest.mark.parametrize(
    "body",
    [
        {"as_of": "2026-11-28T00:00:00Z", "emails": None},
        {"as_of": "2026-11-28T00:00:00Z", "emails": "a@example.com"},
        {"emails": ["a@example.com"]},
        [],
        "string",
    ],
)
def test_malformed_body_exits_non_zero_without_traceback(body):
    out, err = io.StringIO(), io.StringIO()
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        with pytest.raises(CommandError):
            call_command("meisa_refresh_suppressions", stdout=out, stderr=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
