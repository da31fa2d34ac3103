"""System checks for who is synced and what triggers a sync (meisa.E070-E079, W070-W079)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import FieldError

from django_meisa import conf
from django_meisa.contacts.eligibility import eligible_users, should_sync_callable
from django_meisa.contacts.relations import relation_field
from django_meisa.exceptions import MeisaConfigurationError


def scope_messages() -> list[CheckMessage]:
    """Return the problems of SYNC_USERS_FILTER, SHOULD_SYNC_USER and MAPPER_RELATIONS."""
    return [
        *filter_messages(),
        *callable_messages(),
        *relations_messages(),
        *deletion_messages(),
        *health_messages(),
    ]


def filter_messages() -> list[CheckMessage]:
    """E070 when SYNC_USERS_FILTER is not lookups the user model understands."""
    try:
        str(eligible_users().query)  # compiles the lookups without touching the database
    except MeisaConfigurationError as err:
        return [Error(str(err), id="meisa.E070")]
    except (FieldError, ValueError, TypeError) as err:
        return [
            Error(
                f'MEISA["SYNC_USERS_FILTER"] is not a valid filter of the user model: {err}',
                hint='Use field lookups as for User.objects.filter(), e.g. {"is_active": True}.',
                id="meisa.E070",
            )
        ]
    return []


def callable_messages() -> list[CheckMessage]:
    """E071 when SHOULD_SYNC_USER does not import to a callable."""
    try:
        should_sync_callable()
    except MeisaConfigurationError as err:
        hint = "Use the dotted path of a callable(user) -> bool, or None."
        return [Error(str(err), hint=hint, id="meisa.E071")]
    return []


def relations_messages() -> list[CheckMessage]:
    """W070 when a MAPPER declares no MAPPER_RELATIONS; E072 for an unusable entry."""
    declared = conf.get_setting("MAPPER_RELATIONS")
    if declared is None:
        if not conf.get_setting("MAPPER"):
            return []
        return [
            Warning(
                'MEISA["MAPPER"] is set but MEISA["MAPPER_RELATIONS"] declares none of the '
                "relations it reads, so saving them (a profile, a subscription) never syncs.",
                hint='List them, e.g. MEISA["MAPPER_RELATIONS"] = ["profile"], or set [] '
                "when the mapper reads the user's own fields only.",
                id="meisa.W070",
            )
        ]
    if not isinstance(declared, (list, tuple)):
        return [Error('MEISA["MAPPER_RELATIONS"] must be a list of paths.', id="meisa.E072")]
    return [m for m in (relation_problem(path) for path in declared) if m is not None]


def relation_problem(path: Any) -> CheckMessage | None:
    """E072 unless every segment of ``path`` is a relation, from the user model on."""
    current: Any = get_user_model()
    for segment in path.split(".") if isinstance(path, str) and path else [None]:
        field = relation_field(current, segment) if segment else None
        if field is None:
            return Error(
                f'MEISA["MAPPER_RELATIONS"] entry {path!r}: {segment!r} is not a relation '
                f"of {getattr(current, '__name__', current)}.",
                hint='Use relation names from the user, dot-separated: "profile.company".',
                id="meisa.E072",
            )
        current = field.related_model
    return None


def deletion_messages() -> list[CheckMessage]:
    """E073 when DELETED_USER_TAG is not a non-empty string; E075 for a non-bool
    SUPPRESS_DELETED_USERS (a string such as "no" would be truthy)."""
    messages: list[CheckMessage] = []
    tag = conf.get_setting("DELETED_USER_TAG")
    if not (tag is None or (isinstance(tag, str) and tag.strip())):
        hint = 'Use None or a tag name such as "account-deleted".'
        messages.append(Error(f'MEISA["DELETED_USER_TAG"] is {tag!r}.', hint=hint, id="meisa.E073"))
    suppress = conf.get_setting("SUPPRESS_DELETED_USERS")
    if not isinstance(suppress, bool):
        hint = "Use True or False."
        messages.append(
            Error(f'MEISA["SUPPRESS_DELETED_USERS"] is {suppress!r}.', hint=hint, id="meisa.E075")
        )
    return messages


def health_messages() -> list[CheckMessage]:
    """E074 for health-check thresholds that are not positive numbers."""
    messages: list[CheckMessage] = []
    for name in ("HEALTH_MAX_PENDING", "HEALTH_MAX_PENDING_AGE", "HEALTH_MAX_MIRROR_AGE"):
        value = conf.get_setting(name)
        if value is None and name == "HEALTH_MAX_MIRROR_AGE":
            continue
        if not conf.is_number(value, positive=True, integer=name == "HEALTH_MAX_PENDING"):
            hint = "Use a positive number (seconds, or syncs for HEALTH_MAX_PENDING)."
            messages.append(Error(f'MEISA["{name}"] is {value!r}.', hint=hint, id="meisa.E074"))
    return messages
