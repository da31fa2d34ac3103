"""How long a sync task waits before its next attempt: backoff, jitter and Retry-After."""

from __future__ import annotations

import random

from django_meisa import conf
from django_meisa.exceptions import MeisaRateLimitError


def retry_countdown(err: Exception, retries: int) -> float:
    """Return the seconds to wait before retry number ``retries + 1`` after ``err``.

    Exponential (``SYNC_RETRY_BACKOFF * 2**retries``, capped at
    ``SYNC_RETRY_BACKOFF_MAX``) with "equal jitter" (a random half on top of a fixed
    half), so a burst of failures does not come back in step. A 429's ``Retry-After``
    is honoured as a minimum, capped at ``SYNC_RETRY_AFTER_MAX``.
    """
    base = float(conf.get_setting("SYNC_RETRY_BACKOFF"))
    ceiling = float(conf.get_setting("SYNC_RETRY_BACKOFF_MAX"))
    delay = min(ceiling, base * (2 ** min(retries, 30)))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if isinstance(err, MeisaRateLimitError) and err.retry_after is not None:
        wait = min(err.retry_after, float(conf.get_setting("SYNC_RETRY_AFTER_MAX")))
        delay = max(delay, wait)
    return delay


def busy_countdown(lease_left: float | None) -> float:
    """Return the wait before retrying a sync that found the user's lease held.

    The holder looks for newer changes when it releases, so this retry only matters if
    the holder died: wait about until its lease expires, capped at the backoff maximum.
    """
    ceiling = float(conf.get_setting("SYNC_RETRY_BACKOFF_MAX"))
    return min(ceiling, max(1.0, lease_left or 0.0)) + random.uniform(0, 1)
