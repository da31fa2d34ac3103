"""The one retry policy (the sync task and the backfill): backoff, Retry-After, a held lease."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django_meisa import conf
from django_meisa.exceptions import MeisaRateLimitError


@dataclass(frozen=True)
class MeisaRetryPolicy:
    """How long to wait before trying a failed upsert again, and how often.

    ``backoff * 2**n`` capped at ``backoff_max``, with *equal jitter* (half fixed, half
    random) so a burst of failures does not come back in step; a 429's Retry-After is a
    minimum wait. ``None`` reads the matching ``SYNC_RETRY_*`` setting at call time.
    """

    retries: int = 5
    backoff: float | None = None
    backoff_max: float | None = None
    retry_after_max: float | None = None
    rate_limit_waits: int = 1000

    @property
    def base(self) -> float:
        """The first backoff in seconds (``backoff`` or ``SYNC_RETRY_BACKOFF``)."""
        return _or_setting(self.backoff, "SYNC_RETRY_BACKOFF")

    def backoff_for(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), equal jitter."""
        ceiling = _or_setting(self.backoff_max, "SYNC_RETRY_BACKOFF_MAX")
        delay = min(ceiling, self.base * (2 ** min(max(attempt - 1, 0), 30)))
        return delay / 2 + random.uniform(0, delay / 2)

    def pause_for(self, err: MeisaRateLimitError) -> float:
        """Seconds to pause after the 429 ``err``: its Retry-After (else ``base``), capped."""
        hint = err.retry_after if err.retry_after is not None else self.base
        return min(max(hint, 0.0), _or_setting(self.retry_after_max, "SYNC_RETRY_AFTER_MAX"))

    def countdown(self, err: Exception, retries: int) -> float:
        """Seconds before retry ``retries + 1`` after ``err``: backoff, or a longer Retry-After."""
        delay = self.backoff_for(retries + 1)
        if isinstance(err, MeisaRateLimitError) and err.retry_after is not None:
            delay = max(delay, self.pause_for(err))
        return delay


def _or_setting(value: float | None, name: str) -> float:
    return float(conf.get_setting(name)) if value is None else float(value)


def retry_countdown(err: Exception, retries: int) -> float:
    """Return the seconds the sync task waits before retry number ``retries + 1``."""
    return MeisaRetryPolicy().countdown(err, retries)


def busy_countdown(lease_left: float | None) -> float:
    """Return the wait before retrying work whose lease is held ("busy").

    The holder finishes the work, so a retry only matters if it died: wait about until
    its lease expires (1 s to ``SYNC_RETRY_BACKOFF_MAX``), plus up to 1 s of jitter.
    """
    ceiling = float(conf.get_setting("SYNC_RETRY_BACKOFF_MAX"))
    return min(ceiling, max(1.0, lease_left or 0.0)) + random.uniform(0, 1)
