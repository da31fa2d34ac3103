"""Who is synced: ``SYNC_USERS_FILTER`` (lookups, run in SQL) and ``SHOULD_SYNC_USER`` (Python).

Every path that sends a user asks this module. A user who stops matching is simply no
longer sent: Meisa has no delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from django_meisa import conf
from django_meisa.contacts.mapping import load_callable
from django_meisa.exceptions import MeisaConfigurationError, MeisaMappingError

#: ``load_user_for_sync``'s reasons for not returning a user.
DELETED = "skipped_deleted"
INELIGIBLE = "skipped_ineligible"


def eligible_q() -> Q | None:
    """Return ``SYNC_USERS_FILTER`` (a dict of lookups or a ``Q``) as a ``Q``, or None."""
    lookups = conf.get_setting("SYNC_USERS_FILTER")
    if lookups is None:
        return None
    if isinstance(lookups, Q):
        return lookups
    if isinstance(lookups, dict):
        return Q(**lookups)
    raise MeisaConfigurationError(
        'MEISA["SYNC_USERS_FILTER"] must be None, a dict of field lookups or a Q object, '
        f"not {type(lookups).__name__}."
    )


def should_sync_callable() -> Callable[[Any], bool] | None:
    """Return the ``SHOULD_SYNC_USER`` callable, or None. Raises on a bad dotted path."""
    spec = conf.get_setting("SHOULD_SYNC_USER")
    if spec is None:
        return None
    if not isinstance(spec, str) and not callable(spec):
        raise MeisaConfigurationError(
            f'MEISA["SHOULD_SYNC_USER"] must be a dotted path or None, not {type(spec).__name__}.'
        )
    try:
        return load_callable(spec, f'MEISA["SHOULD_SYNC_USER"] ({spec!r})')
    except MeisaMappingError as err:
        raise MeisaConfigurationError(f"{err}.") from err


def eligible_users(
    queryset: QuerySet[Any] | None = None, *, using: str | None = None
) -> QuerySet[Any]:
    """Return ``queryset`` (default: every user) narrowed by ``SYNC_USERS_FILTER`` in SQL
    (``SHOULD_SYNC_USER`` is asked per loaded user: ``passes_callable``)."""
    manager = get_user_model()._default_manager.db_manager(using)
    if queryset is None:
        queryset = manager.all()
    condition = eligible_q()
    if condition is None:
        return queryset
    # A semi-join, so a lookup across a to-many relation never repeats a user.
    matching = manager.using(queryset.db).filter(condition).values("pk")
    return queryset.filter(pk__in=matching)


def passes_callable(user: Any) -> bool:
    """True when ``SHOULD_SYNC_USER`` is unset or returns a truthy value for ``user``."""
    func = should_sync_callable()
    if func is None:
        return True
    try:
        return bool(func(user))
    except Exception as err:
        # Only the type: the text may hold the user's data. Recorded as a mapping failure.
        raise MeisaMappingError(f'MEISA["SHOULD_SYNC_USER"] raised {type(err).__name__}') from err


def is_eligible(user: Any) -> bool:
    """True when ``user`` (an instance) matches both settings; one query when a filter is set."""
    if eligible_q() is not None and not eligible_users().filter(pk=user.pk).exists():
        return False
    return passes_callable(user)


def load_user_for_sync(pk: Any, *, using: str | None = None) -> tuple[Any, str | None]:
    """Load user ``pk`` for a sync: ``(user, None)``, or ``(None, DELETED or INELIGIBLE)``.

    One query for an eligible user (the filter rides along); a second tells a deleted
    user from a filtered-out one only when none came back.
    """
    manager = get_user_model()._default_manager.db_manager(using)
    user = eligible_users(manager.filter(pk=pk)).first()
    if user is None:
        return None, (INELIGIBLE if manager.filter(pk=pk).exists() else DELETED)
    if not passes_callable(user):
        return None, INELIGIBLE
    return user, None
