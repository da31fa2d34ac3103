"""How fresh the mirror is: the last successful refresh, read at most every few seconds."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import router
from django.utils import timezone

from django_meisa import conf
from django_meisa.models import SuppressionRefreshState
from django_meisa.signals import suppression_stale

logger = logging.getLogger("django_meisa.suppression")

#: Seconds a process trusts its last reading of the refresh state: the send path pays
#: one small query per process this often, never one per message.
CACHE_SECONDS = 5.0
#: Seconds between two ERROR logs (and signals) about the same mirror, per process.
REPORT_EVERY = 300.0
DEFAULT_MAX_AGE_INTERVALS = 4

_lock = threading.Lock()
_readings: dict[str, tuple[float, dt.datetime | None]] = {}
_last_done: dict[str, float] = {}


@dataclass(frozen=True)
class MirrorFreshness:
    """The mirror's last successful refresh, and what that means for sending."""

    last_success_at: dt.datetime | None
    max_age: float

    @property
    def loaded(self) -> bool:
        """True once a refresh has ever succeeded."""
        return self.last_success_at is not None

    @property
    def age(self) -> float | None:
        """Seconds since the last successful refresh (None when never loaded)."""
        if self.last_success_at is None:
            return None
        return (timezone.now() - self.last_success_at).total_seconds()

    @property
    def stale(self) -> bool:
        """True when loaded but older than ``max_age``."""
        age = self.age
        return age is not None and age > self.max_age


def max_age() -> float:
    """``MEISA["SUPPRESSION_MAX_AGE"]`` in seconds (None: 4 x the refresh interval)."""
    value = conf.get_setting("SUPPRESSION_MAX_AGE")
    if value is None:
        interval = float(conf.get_setting("SUPPRESSION_REFRESH_INTERVAL"))
        return DEFAULT_MAX_AGE_INTERVALS * interval
    return float(value)


def mirror_freshness() -> MirrorFreshness:
    """Return the mirror's freshness, reading the state row at most every few seconds.

    Called by the email backend for every batch. Database errors propagate (the
    backend treats them like an unreadable table). ``max_age`` is read each call.
    """
    using = router.db_for_read(SuppressionRefreshState)
    now = time.monotonic()
    reading = _readings.get(using)
    if reading is None or now - reading[0] > CACHE_SECONDS:
        reading = _readings[using] = (now, last_success_at(using))
    return MirrorFreshness(last_success_at=reading[1], max_age=max_age())


def last_success_at(using: str) -> dt.datetime | None:
    """When a refresh last succeeded, read from ``using`` now (None: never)."""
    rows = SuppressionRefreshState.objects.using(using)
    return (
        rows.filter(pk=SuppressionRefreshState.SINGLETON_PK)
        .values_list("last_success_at", flat=True)
        .first()
    )


def forget_freshness() -> None:
    """Drop this process's readings and marks (a refresh just succeeded here; tests)."""
    with _lock:
        _readings.clear()
        _last_done.clear()


def report(freshness: MirrorFreshness, sender: Any, consequence: str) -> None:
    """Log an ERROR and send ``suppression_stale``, at most every ``REPORT_EVERY`` s."""
    if not first_in_process("stale" if freshness.loaded else "never-loaded", REPORT_EVERY):
        return
    logger.error("Suppression mirror %s: %s", describe(freshness), consequence)
    responses = suppression_stale.send_robust(
        sender=sender,
        loaded=freshness.loaded,
        last_success_at=freshness.last_success_at,
        age=freshness.age,
        max_age=freshness.max_age,
    )
    for receiver, error in responses:
        if isinstance(error, Exception):
            logger.error("suppression_stale receiver %r raised %r", receiver, error)


def first_in_process(what: str, seconds: float) -> bool:
    """True at most once every ``seconds`` per process for ``what`` (a report, a request)."""
    now = time.monotonic()
    with _lock:
        last = _last_done.get(what)
        if last is not None and now - last < seconds:
            return False
        _last_done[what] = now
    return True


def describe(freshness: MirrorFreshness) -> str:
    """A short text for logs, the admin banner and exceptions."""
    if not freshness.loaded:
        return "has never been loaded (no refresh has succeeded yet)"
    age = int(freshness.age or 0)
    return (
        f"is stale: last successful refresh {age} s ago, more than "
        f'MEISA["SUPPRESSION_MAX_AGE"] ({int(freshness.max_age)} s)'
    )
