"""Dotted-path targets for the mapping tests (callables a site would write)."""

from __future__ import annotations

from typing import Any


def plan_label(user: Any) -> str:
    return f"plan-of-{user.username}"


def tags(user: Any) -> Any:
    return {"b-tag", "a-tag"} if user.is_staff else ["member"]


def bad_tags(user: Any) -> Any:
    return "not-a-list"


def exploding(user: Any) -> Any:
    raise KeyError(f"secret data of {user.email}")


def mapper(user: Any) -> dict[str, Any]:
    return {
        "email": user.email,
        "external_id": f"usr_{user.pk}",
        "display_name": user.username.title(),
        "source": "manual",
        "custom_fields": {"plan": "custom"},
    }


def junk_mapper(user: Any) -> Any:
    return ["not", "a", "dict"]


def mapper_with_status(user: Any) -> dict[str, Any]:
    return {"email": user.email, "status": "active"}


NOT_CALLABLE = 42
