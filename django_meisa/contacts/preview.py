"""What the next upsert of a user would send: the exact JSON, or why nothing would be sent."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django_meisa.contacts.eligibility import is_eligible
from django_meisa.contacts.mapping import build_contact_payload
from django_meisa.exceptions import MeisaError, MeisaNoEmailError, MeisaPayloadError
from django_meisa.models import UserSyncState

#: Finds the setting entry a mapping error names: MEISA["CUSTOM_FIELDS"]["plan"].
_ENTRY = re.compile(r'MEISA\["(?P<setting>[A-Z_]+)"\](?:\[["\'](?P<key>[^"\']+)["\']\])?')


@dataclass(frozen=True)
class MeisaPreview:
    """The outcome of ``preview_contact``: the body the next upsert would POST, or the
    mapping ``error`` and the ``field`` it names. ``eligible`` False still shows the payload."""

    user_pk: Any
    payload: dict[str, Any] | None = None
    eligible: bool = True
    error: str = ""
    field: str = ""
    #: What the site's own code raised, for staff debugging it (may hold user data,
    #: so it is shown to staff and operators only, never logged or stored).
    detail: str = ""

    @property
    def json(self) -> str:
        """The payload as indented JSON, exactly the values that would be sent."""
        return json.dumps(self.payload, indent=2, ensure_ascii=False, sort_keys=False)


def preview_contact(user: Any, *, source: str | None = None) -> MeisaPreview:
    """Return what the next sync of ``user`` (an instance) would send; sends nothing and
    never raises a ``MeisaError``."""
    eligible = is_eligible(user)
    try:
        payload = build_contact_payload(user)
    except MeisaNoEmailError as err:
        return MeisaPreview(user.pk, eligible=eligible, error=str(err), field="email")
    except MeisaError as err:
        return MeisaPreview(
            user.pk, eligible=eligible, error=str(err), field=failing_field(err), detail=cause(err)
        )
    return MeisaPreview(user.pk, {**payload, "source": source or next_source(user.pk)}, eligible)


def next_source(user_pk: Any) -> str:
    """The ``source`` the worker would send: "signup" for a new user's first sync, else "api"."""
    state = UserSyncState.objects.filter(user_id=user_pk).only("signup_pending").first()
    return "signup" if state is not None and state.signup_pending else "api"


def cause(err: BaseException) -> str:
    """Return "Type: message" of what ``err`` was raised from, or ""."""
    origin = err.__cause__
    if origin is None or isinstance(origin, MeisaError):
        return ""
    return f"{type(origin).__name__}: {origin}"[:500]


def failing_field(err: BaseException) -> str:
    """Return the field or setting entry ``err`` is about ("CUSTOM_FIELDS.plan"), or ""."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, MeisaPayloadError):
            return cause.field
        cause = cause.__cause__
    match = _ENTRY.search(str(err))
    if match is None:
        return ""
    key = match.group("key")
    return f"{match.group('setting')}.{key}" if key else match.group("setting")
