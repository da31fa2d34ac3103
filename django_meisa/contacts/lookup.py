"""Find users by primary key, username or email, for commands and the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q


def find_users(identifier: str) -> list[Any]:
    """Return every user ``identifier`` names by primary key, username or email, in pk
    order (several may share an email: ``meisa_sync`` must show that, not hide it)."""
    model = get_user_model()
    email_field = model.get_email_field_name()
    query = Q(**{model.USERNAME_FIELD: identifier})
    if "@" in identifier:
        query |= Q(**{f"{email_field}__iexact": identifier})
    pk = as_pk(identifier)
    if pk is not None:
        query |= Q(pk=pk)
    return list(model._default_manager.filter(query).order_by("pk"))


def as_pk(identifier: str) -> Any:
    """Return ``identifier`` as the user model's primary key type, or None if it isn't one."""
    try:
        return get_user_model()._meta.pk.to_python(identifier)
    except (ValidationError, ValueError, TypeError):
        return None
