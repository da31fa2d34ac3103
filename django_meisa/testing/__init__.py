"""Test kit for sites using django-meisa: a faithful fake Meisa, ready in a few lines.

    from django_meisa.testing import fake_meisa

    def test_signup_reaches_meisa(django_user_model):
        with fake_meisa() as meisa:
            django_user_model.objects.create(username="ada", email="ada@example.com")
            assert meisa.contact("ada@example.com")["source"] == "signup"

Needs the ``testing`` extra (``pip install django-meisa[testing]``) for ``responses``.
"""

from __future__ import annotations

from django_meisa.testing.fake import FakeMeisa, FakeResponse, RecordedRequest
from django_meisa.testing.mock import fake_meisa

__all__ = ["FakeMeisa", "FakeResponse", "RecordedRequest", "fake_meisa"]
