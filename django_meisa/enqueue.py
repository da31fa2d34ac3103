"""Request-path side of contact sync: record a pending sync and enqueue it after commit."""

from __future__ import annotations

from typing import Any


def request_sync(user: Any) -> None:
    """Ask for ``user`` to be synced to Meisa after the current transaction commits."""
    raise NotImplementedError("contact sync lands with issue #3")
