"""QA (#14): meisa_sync with identifiers no user has: exit 1 and a message, never a traceback."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

ODD = [
    "not-a-pk",
    "99999999999999999999999999",
    "-1",
    "0",
    "00000000-0000-0000-0000-000000000000",
    "a@b; c@d",
    "%",
    "_",
    "",
    " ",
    "1.5",
]


@pytest.mark.parametrize("identifier", ODD)
def test_unknown_identifier_exits_1(identifier):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("meisa_sync", identifier, stdout=out, stderr=err)
    assert info.value.returncode == 1
