"""pytest fixtures for sites testing their django-meisa integration.

Enable it in your ``conftest.py``::

    pytest_plugins = ["django_meisa.testing.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_meisa.testing.fake import FakeMeisa
from django_meisa.testing.mock import fake_meisa


@pytest.fixture
def meisa_fake() -> Iterator[FakeMeisa]:
    """A ``FakeMeisa`` behind ``responses``, with MEISA's key and URL pointed at it."""
    with fake_meisa() as fake:
        yield fake
