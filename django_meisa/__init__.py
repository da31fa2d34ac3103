"""django-meisa: keep Django users synced to Meisa and never email a suppressed address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "request_sync", "sync_contact_now"]

if TYPE_CHECKING:
    from django_meisa.contacts.requests import request_sync
    from django_meisa.contacts.worker import sync_contact_now


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (e.g. for __version__ in pyproject tooling)
    # never imports Django models before the app registry is ready.
    if name == "request_sync":
        from django_meisa.contacts.requests import request_sync

        return request_sync
    if name == "sync_contact_now":
        from django_meisa.contacts.worker import sync_contact_now

        return sync_contact_now
    raise AttributeError(f"module 'django_meisa' has no attribute {name!r}")
