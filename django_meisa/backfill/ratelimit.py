"""Rate limiters shared by every sender of a backfill: a global cap and a 429 pause."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    """What a backfill sender needs from a rate limiter."""

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until one request may be sent. Returns False if ``stop`` was set."""

    def pause(self, seconds: float) -> None:
        """Hold back every sender for ``seconds`` (a 429's Retry-After)."""


def wait(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep ``seconds``, waking early when ``stop`` is set. Returns False if it was."""
    if seconds <= 0:
        return not (stop and stop.is_set())
    if stop is None:
        time.sleep(seconds)
        return True
    return not stop.wait(seconds)


class TokenBucket:
    """A thread-safe token bucket for one process, plus a shared pause.

    ``rate`` is requests per second across all threads (None = unlimited); ``burst``
    tokens may be spent at once. ``pause()`` (called on a 429) holds back *every*
    thread until the pause ends, so one rate-limited answer slows the whole backfill
    instead of each thread hammering Meisa on its own schedule.
    """

    def __init__(self, rate: float | None = None, *, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate or 1.0)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is available and take it. Returns False if ``stop`` is set."""
        while True:
            delay = self._try_take()
            if delay <= 0:
                return not (stop and stop.is_set())
            if not wait(min(delay, 0.5), stop):
                return False

    def pause(self, seconds: float) -> None:
        """Hold back every caller of ``acquire`` for ``seconds`` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _try_take(self) -> float:
        # Returns 0 when a token was taken, else how long to wait before trying again.
        with self._lock:
            now = time.monotonic()
            if now < self._paused_until:
                return self._paused_until - now
            if self.rate is None:
                return 0.0
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class CacheRateLimiter:
    """A rate limit and 429 pause shared by every worker through Django's cache.

    Celery's ``rate_limit`` is per worker, so N workers would send N times the rate.
    This limiter counts requests per one-second window in a cache key that every
    worker increments atomically (``cache.incr``), and stores a 429 pause in another.
    Needs a cache shared by the workers (Redis or Memcached, not locmem).
    """

    def __init__(self, rate: float | None, *, key: str, cache_alias: str = "default") -> None:
        self.rate = rate
        self.key = key
        self.cache_alias = cache_alias

    @property
    def cache(self):  # type: ignore[no-untyped-def]
        from django.core.cache import caches

        return caches[self.cache_alias]

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until this second's window has room and count one request in it."""
        while True:
            delay = self._paused_for()
            if delay <= 0:
                delay = self._try_take()
            if delay <= 0:
                return not (stop and stop.is_set())
            if not wait(min(delay, 0.5), stop):
                return False

    def pause(self, seconds: float) -> None:
        """Hold back every worker sharing the cache for ``seconds``."""
        until = time.time() + seconds
        if until > self._pause_deadline():
            self.cache.set(f"{self.key}:pause", until, timeout=int(seconds) + 5)

    def _pause_deadline(self) -> float:
        return float(self.cache.get(f"{self.key}:pause") or 0.0)

    def _paused_for(self) -> float:
        return self._pause_deadline() - time.time()

    def _try_take(self) -> float:
        if self.rate is None:
            return 0.0
        now = time.time()
        window = f"{self.key}:{int(now)}"
        self.cache.add(window, 0, timeout=5)
        try:
            count = self.cache.incr(window)
        except ValueError:  # the key expired between add and incr
            return 0.01
        if count <= self.rate:
            return 0.0
        return 1.0 - (now - int(now))
