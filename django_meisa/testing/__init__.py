"""Test kit for sites using django-meisa: a faithful fake Meisa, ready in a few lines.

    from django_meisa.testing import fake_meisa

    def test_signup_reaches_meisa(django_user_model):
        with fake_meisa() as meisa:
            django_user_model.objects.create(username="ada", email="ada@example.com")
            assert meisa.contact("ada@example.com")["source"] == "signup"

``fake_meisa`` needs the ``testing`` extra (``pip install "django-meisa[testing]"``) for
``responses``; ``FakeMeisa`` and the local Meisa (``python -m django_meisa.testing.server``)
need nothing beyond django-meisa itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_meisa.testing.fake import FakeMeisa, FakeResponse, RecordedRequest

if TYPE_CHECKING:
    from django_meisa.testing.mock import fake_meisa

__all__ = ["FakeMeisa", "FakeResponse", "RecordedRequest", "fake_meisa"]


def __getattr__(name: str) -> Any:
    # Lazy: importing responses here would make the local Meisa server, which is
    # stdlib-only, need the testing extra too.
    if name == "fake_meisa":
        from django_meisa.testing.mock import fake_meisa

        return fake_meisa
    raise AttributeError(f"module 'django_meisa.testing' has no attribute {name!r}")
