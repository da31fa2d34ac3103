"""QA (#11): the deploy checks through manage.py check, as an operator runs them."""

from __future__ import annotations

import io

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from django_meisa.suppression import refresh_suppressions

pytestmark = pytest.mark.django_db

LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"


def check_output(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", *args, stdout=out, stderr=err)
    except SystemCheckError as error:
        return str(error) + out.getvalue() + err.getvalue()
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize("args", [("--database", "default"), ("--deploy", "--database", "default")])
def test_never_loaded_is_w040_then_gone_after_a_refresh(args):
    assert "meisa.W040" in check_output(*args)
    body = {"as_of": timezone.now().isoformat(), "count": 0, "emails": []}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        refresh_suppressions()
    assert "meisa.W040" not in check_output(*args)
