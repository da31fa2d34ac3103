"""Send one backfill upsert under the one retry policy (``retry.py``): 429 waits, 5xx backs off."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django_meisa.backfill.ratelimit import RateLimiter, wait
from django_meisa.client import MeisaClient
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaConfigurationError,
    MeisaError,
    MeisaRateLimitError,
    MeisaRedirectError,
)
from django_meisa.retry import MeisaRetryPolicy

#: Errors that will fail every user the same way: the run stops instead of failing all.
FATAL_ERRORS = (MeisaAuthError, MeisaRedirectError, MeisaConfigurationError)


class SendWindow(Protocol):
    """Until when upserts may start (a chunk's lease, renewed while it sends)."""

    send_deadline: float


@dataclass
class SendResult:
    """What happened to one user's upsert: ``contact`` on success, else ``error``."""

    contact: dict[str, Any] | None = None
    error: str = ""
    #: True when the run was stopped before this user's upsert succeeded or failed for
    #: good: the user is left for ``--resume``.
    not_sent: bool = False
    #: The error that should stop the whole run (bad key, redirect).
    fatal: MeisaError | None = None
    #: True when the user's lease ran out before a request could start: map it again.
    expired: bool = False
    #: The last error, when the user failed (``error`` is its description).
    exception: MeisaError | None = None


def send_upsert(
    client: MeisaClient,
    payload: dict[str, Any],
    *,
    limiter: RateLimiter,
    policy: MeisaRetryPolicy,
    stop: threading.Event | None = None,
    window: SendWindow | None = None,
) -> SendResult:
    """Upsert ``payload`` under ``limiter``, retrying per ``policy``.

    Called by the backfill's sender threads and chunk task. Never raises a
    ``MeisaError``: the outcome, including a fatal one, is in the ``SendResult``.
    A stop request (Ctrl-C) while waiting for a token or backing off returns
    ``not_sent``: the user is neither synced nor failed, and ``--resume`` retries it.
    No request starts after ``window.send_deadline`` (``time.monotonic()``, read before
    each attempt, so renewals count), when the user's sync lease may run out: the
    result is ``expired`` and the caller leases and maps again.
    """
    failures = waits = 0
    while True:
        if not limiter.acquire(stop):
            return SendResult(not_sent=True, error="stopped")
        if window is not None and time.monotonic() > window.send_deadline:
            return SendResult(not_sent=True, expired=True, error="sync lease expired")
        try:
            return SendResult(contact=client.upsert_contact(payload))
        except MeisaRateLimitError as err:
            waits += 1
            if waits > policy.rate_limit_waits:
                return SendResult(error=describe_error(err), exception=err)
            limiter.pause(policy.pause_for(err))
        except FATAL_ERRORS as err:
            return SendResult(error=describe_error(err), fatal=err, exception=err)
        except MeisaError as err:
            failures += 1
            if not err.retryable or failures > policy.retries:
                return SendResult(error=describe_error(err), exception=err)
            if not wait(policy.backoff_for(failures), stop):
                return SendResult(not_sent=True, error="stopped")


def describe_error(err: BaseException) -> str:
    """Return a one-line reason for the failures CSV and the sync state.

    For a ``MeisaError``, contact sync's own ``error_text``: the class, the method,
    path and status, and for a refused request the names (never the values) of the
    fields Meisa complained about. No key, no personal data.
    """
    from django_meisa.contacts.state import error_text

    if isinstance(err, MeisaError):
        return error_text(err)
    return f"{type(err).__name__}: {err}"
