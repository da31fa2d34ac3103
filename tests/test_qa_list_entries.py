"""QA (#11): one non-string entry in Meisa's list must not block the rest."""

from __future__ import annotations

import contextlib
import io

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_meisa.models import SuppressionRefreshState
from django_meisa.suppression import is_suppressed

pytestmark = pytest.mark.django_db

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


@pytest.mark.parametrize("odd", [None, 1, {"email": "x@example.com"}, ["x@example.com"], True])
def test_one_non_string_entry_does_not_block_the_rest(odd):
    out, err = io.StringIO(), io.StringIO()
    body = {"as_of": timezone.now().isoformat(), "count": 2, "emails": ["good@example.com", odd]}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        with contextlib.suppress(CommandError):
            call_command("meisa_refresh_suppressions", stdout=out, stderr=err)
    assert is_suppressed("good@example.com"), out.getvalue() + err.getvalue()
    assert SuppressionRefreshState.load().last_rejected == 1
