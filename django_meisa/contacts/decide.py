"""The sync rule, pure: a user's state and mapped payload in, what to do out (no I/O).

The worker and the backfill both call ``decide``, so the rule is the same on both paths.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django_meisa.exceptions import MeisaError, MeisaNoEmailError

#: What ``decide`` may answer.
SEND, UNCHANGED, NO_EMAIL, FAIL = "send", "unchanged", "no_email", "fail"


class StateView(NamedTuple):
    """The columns of a ``UserSyncState`` row the rule reads (read under the lease)."""

    user_id: Any
    version: int = 0
    synced_version: int = 0
    payload_fingerprint: str = ""
    last_synced_at: Any = None
    login_pending: bool = False
    signup_pending: bool = False
    lease_token: str = ""
    #: The Meisa contact id last returned, to notice a change of identity.
    contact_id: str = ""


#: ``StateView``'s fields, in the order ``values_list`` reads them.
STATE_FIELDS = StateView._fields


@dataclass(frozen=True)
class Decision:
    """``action`` for one user; the payload, fingerprint and source to send; or the error."""

    action: str
    fingerprint: str = ""
    source: str = ""
    error: MeisaError | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


def payload_fingerprint(payload: Mapping[str, Any]) -> str:
    """Return a SHA-256 of ``payload`` without ``source`` (Meisa keeps the first source, so
    an unchanged user costs no request whatever source it would be sent with)."""
    body = {key: value for key, value in payload.items() if key != "source"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def is_up_to_date(state: StateView, *, force: bool = False) -> bool:
    """True when the requested version was handled already (checked before mapping)."""
    return not force and state.synced_version >= state.version and state.last_synced_at is not None


def decide(
    state: StateView,
    mapped: Mapping[str, Any] | MeisaError,
    *,
    force: bool = False,
    source: str | None = None,
) -> Decision:
    """Return what to do for a user whose mapper returned ``mapped`` (a payload or its error).

    An unchanged payload is sent anyway under ``force`` or a pending login (Meisa:
    "upsert on every login"); the source is ``source``, else "signup" or "api".
    """
    if isinstance(mapped, MeisaNoEmailError):
        return Decision(NO_EMAIL)
    if isinstance(mapped, MeisaError):
        return Decision(FAIL, error=mapped)
    fingerprint = payload_fingerprint(mapped)
    if not (force or state.login_pending) and fingerprint == state.payload_fingerprint:
        return Decision(UNCHANGED, fingerprint)
    sent_source = source or ("signup" if state.signup_pending else "api")
    return Decision(SEND, fingerprint, sent_source, payload=mapped)
