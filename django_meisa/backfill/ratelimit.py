"""Rate limiters shared by every sender of a backfill: a global cap and a 429 pause."""

from __future__ import annotations

import threading
import time

from django.core.cache import BaseCache, caches


class RateLimiter:
    """A rate cap plus a 429 pause; subclasses say how long to wait for the next request."""

    rate: float | None

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until one request may be sent and count it. Returns False if ``stop`` is set."""
        while True:
            delay = self._delay()
            if delay <= 0:
                return not (stop and stop.is_set())
            if not wait(min(delay, 0.5), stop):
                return False

    def pause(self, seconds: float) -> None:
        """Hold back every sender for ``seconds`` (a 429's Retry-After)."""
        raise NotImplementedError

    def _delay(self) -> float:
        # 0 when a request was counted, else how long to wait before trying again.
        raise NotImplementedError


def wait(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep ``seconds``, waking early when ``stop`` is set. Returns False if it was."""
    if seconds <= 0:
        return not (stop and stop.is_set())
    if stop is None:
        time.sleep(seconds)
        return True
    return not stop.wait(seconds)


class TokenBucket(RateLimiter):
    """A thread-safe token bucket for one process, plus a shared pause.

    ``rate`` is requests per second across all threads (None = unlimited); ``burst``
    tokens may be spent at once. A 429's ``pause()`` holds back *every* thread, so one
    rate-limited answer slows the whole backfill instead of each thread on its own.
    """

    def __init__(self, rate: float | None = None, *, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate or 1.0)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """Hold back every caller of ``acquire`` for ``seconds`` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _delay(self) -> float:
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


class CacheRateLimiter(RateLimiter):
    """A rate limit and 429 pause shared by every worker through Django's cache.

    Celery's ``rate_limit`` is per worker, so N workers would send N times the rate.
    Requests are counted per one-second window in a cache key every worker increments
    atomically (``cache.incr``); a 429 pause is another key. Needs a cache the workers
    share (Redis or Memcached, not locmem).
    """

    def __init__(self, rate: float | None, *, key: str, cache_alias: str = "default") -> None:
        self.rate = rate
        self.key = key
        self.cache_alias = cache_alias

    @property
    def cache(self) -> BaseCache:
        """The shared cache, looked up per call (its handle is per thread)."""
        return caches[self.cache_alias]

    def pause(self, seconds: float) -> None:
        """Hold back every worker sharing the cache for ``seconds``."""
        until = time.time() + seconds
        if until > self._pause_deadline():
            self.cache.set(f"{self.key}:pause", until, timeout=int(seconds) + 5)

    def _pause_deadline(self) -> float:
        return float(self.cache.get(f"{self.key}:pause") or 0.0)

    def _delay(self) -> float:
        now = time.time()
        paused = self._pause_deadline() - now
        if paused > 0 or self.rate is None:
            return paused
        window = f"{self.key}:{int(now)}"
        self.cache.add(window, 0, timeout=5)
        try:
            count = self.cache.incr(window)
        except ValueError:  # the key expired between add and incr
            return 0.01
        return 0.0 if count <= self.rate else 1.0 - (now - int(now))
