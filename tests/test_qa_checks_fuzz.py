"""QA: manage.py check reports a wrong-typed MEISA value as a message, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from django_meisa.conf import DEFAULTS

VALUES: list[Any] = [42, -1, 0, "x", "", [], {}, ["x"], {"x": 1}, 1.5, True, ("a",)]


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_checks_never_crash_on_a_wrong_type(key):
    crashes = []
    for value in VALUES:
        with override_settings(MEISA={**settings.MEISA, key: value}):
            try:
                checks.run_checks(databases=[])
            except Exception as error:
                crashes.append((value, type(error).__name__))
    assert crashes == []
