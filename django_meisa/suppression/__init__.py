"""The suppression mirror's public API: lookups, immediate suppression and refreshes."""

from __future__ import annotations

from django_meisa.suppression.local import suppress_locally
from django_meisa.suppression.lookup import (
    MeisaVerdict,
    explain_address,
    is_suppressed,
    suppressed_among,
    suppressed_keys,
)
from django_meisa.suppression.refresh import RefreshResult, refresh_suppressions
from django_meisa.suppression.status import suppress_contact_status

__all__ = [
    "MeisaVerdict",
    "RefreshResult",
    "explain_address",
    "is_suppressed",
    "refresh_suppressions",
    "suppress_contact_status",
    "suppress_locally",
    "suppressed_among",
    "suppressed_keys",
]
