"""Health checks for django-health-check (the ``health`` extra): mirror, backlog, API key.

Each reads django-meisa's tables only, so a probe costs no request to Meisa. How to list
them in a health view: docs/howto/operations.md.
"""

from __future__ import annotations

import dataclasses

from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from django_meisa import conf
from django_meisa.stats import auth_failed_at, pending_summary, refresh_state
from django_meisa.suppression import freshness


def max_mirror_age() -> float:
    """``HEALTH_MAX_MIRROR_AGE``, or the mirror's own staleness age (``SUPPRESSION_MAX_AGE``)."""
    value = conf.get_setting("HEALTH_MAX_MIRROR_AGE")
    return freshness.max_age() if value is None else float(value)


@dataclasses.dataclass
class MeisaMirrorFresh(HealthCheck):
    """Fails when the suppression mirror was never loaded or is older than allowed."""

    def run(self) -> None:
        state = refresh_state()
        if state is None or state.last_success_at is None:
            raise ServiceUnavailable("the suppression mirror was never refreshed")
        age, allowed = (timezone.now() - state.last_success_at).total_seconds(), max_mirror_age()
        if age > allowed:
            raise ServiceUnavailable(
                f"the suppression mirror is {age:.0f} s old (allowed: {allowed:.0f} s)"
            )


@dataclasses.dataclass
class MeisaSyncBacklog(HealthCheck):
    """Fails above ``HEALTH_MAX_PENDING`` pending syncs or ``HEALTH_MAX_PENDING_AGE`` s of wait."""

    def run(self) -> None:
        pending = pending_summary()
        limit = int(conf.get_setting("HEALTH_MAX_PENDING"))
        if pending["count"] > limit:
            raise ServiceUnavailable(f"{pending['count']} contact syncs pending (limit {limit})")
        if pending["oldest"] is None:
            return
        age = (timezone.now() - pending["oldest"]).total_seconds()
        age_limit = float(conf.get_setting("HEALTH_MAX_PENDING_AGE"))
        if age > age_limit:
            raise ServiceUnavailable(
                f"the oldest pending contact sync waits for {age:.0f} s (limit {age_limit:.0f} s)"
            )


@dataclasses.dataclass
class MeisaAPIKey(HealthCheck):
    """Fails when Meisa's latest answer to a sync or refresh was a 401/403 (no request made)."""

    def run(self) -> None:
        failed_at = auth_failed_at(refresh_state())
        if failed_at is not None:
            raise ServiceUnavailable(
                f"Meisa refused the API key at {failed_at.isoformat()} and nothing succeeded "
                'since; check MEISA["API_KEY"] and its scopes'
            )
