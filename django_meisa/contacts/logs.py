"""Structured log fields: what every log line about one user carries in ``extra``."""

from __future__ import annotations

from typing import Any


def user_extra(
    user_pk: Any, result: str | None = None, version: int | None = None
) -> dict[str, Any]:
    """Return the ``extra`` of a log line about one user, for JSON log handlers to index
    (prefixed: ``logging`` refuses a key that shadows a record field; never an email)."""
    return {
        "meisa_user_pk": str(user_pk) if user_pk is not None else None,
        "meisa_result": str(result) if result is not None else None,
        "meisa_version": version,
    }
