"""How a backfill round's upserts are sent: by sender threads (inline) or one by one (a task).

Inline, each sender thread owns one keep-alive MeisaClient and only the HTTP calls
run in these threads. The database work (selection, mapping,
recording) stays in the calling thread, so the backfill uses one database connection
and never fights SQLite's locks or leaks connections from threads.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from django_meisa.backfill.ratelimit import RateLimiter
from django_meisa.backfill.sender import (
    MeisaRetryPolicy,
    SendResult,
    SendWindow,
    send_upsert,
)
from django_meisa.client import MeisaClient

_STOP = object()


class SequentialSender:
    """Sends in the calling thread, one upsert per ``collect()``: a chunk task's sender.

    After ``stop`` is set (a fatal error), the queued upserts come back ``not_sent``.
    """

    def __init__(
        self, client: MeisaClient, *, limiter: RateLimiter, policy: MeisaRetryPolicy
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.policy = policy
        self.stop = threading.Event()
        self._jobs: deque[tuple[Hashable, dict[str, Any], SendWindow | None]] = deque()

    def submit(
        self, key: Hashable, payload: dict[str, Any], window: SendWindow | None = None
    ) -> None:
        """Queue ``payload``; it is sent by a later ``collect()``."""
        self._jobs.append((key, payload, window))

    def collect(self, timeout: float = 0.1) -> list[tuple[Hashable, SendResult]]:
        """Send the next queued upsert and return its result (none queued: nothing)."""
        if self.stop.is_set():
            skipped = [(job[0], SendResult(not_sent=True, error="stopped")) for job in self._jobs]
            self._jobs.clear()
            return skipped
        if not self._jobs:
            return []
        key, payload, window = self._jobs.popleft()
        result = send_upsert(
            self.client, payload, limiter=self.limiter, policy=self.policy, window=window
        )
        return [(key, result)]

    def alive(self) -> bool:
        """Always: the sending happens in the caller's thread."""
        return True


class SenderPool:
    """``concurrency`` threads sending upserts; results come back through ``collect()``.

    ``submit()`` blocks when ``backlog`` jobs are waiting, which bounds memory. After
    ``stop`` is set (Ctrl-C), queued jobs come back ``not_sent`` without a request,
    and requests in flight finish (a request is never cut in half).
    """

    def __init__(
        self,
        concurrency: int,
        *,
        limiter: RateLimiter,
        policy: MeisaRetryPolicy,
        client_factory: Callable[[], MeisaClient] = MeisaClient,
        backlog: int = 1000,
        stop: threading.Event | None = None,
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self.client_factory = client_factory
        self.stop = stop or threading.Event()
        self._jobs: queue.Queue[Any] = queue.Queue(maxsize=backlog)
        self._results: queue.Queue[tuple[Hashable, SendResult]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._work, name=f"meisa-backfill-{i}", daemon=True)
            for i in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, key: Hashable, payload: dict[str, Any], window: SendWindow | None = None
    ) -> None:
        """Queue ``payload`` for sending; its result comes back under ``key``.

        No request for it starts after ``window.send_deadline``.
        """
        self._jobs.put((key, payload, window))

    def collect(self, timeout: float = 0.1) -> list[tuple[Hashable, SendResult]]:
        """Return the results ready now, waiting up to ``timeout`` for the first one."""
        try:
            ready = [self._results.get(timeout=timeout)]
        except queue.Empty:
            return []
        # qsize() is a hint, but only this thread takes results, so the items are there.
        ready.extend(self._results.get_nowait() for _ in range(self._results.qsize()))
        return ready

    def close(self) -> None:
        """Stop the threads once the queued jobs are done (or skipped, after ``stop``)."""
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join()

    def alive(self) -> bool:
        """True while at least one sender thread runs."""
        return any(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        client = self.client_factory()
        try:
            while (job := self._jobs.get()) is not _STOP:
                key, payload, window = job
                try:
                    result = self._send(client, payload, window)
                except BaseException:
                    # KeyboardInterrupt or SystemExit raised in this thread (by a test
                    # double, say): stop the whole run cleanly instead of dying silently.
                    self.stop.set()
                    result = SendResult(not_sent=True, error="stopped")
                self._results.put((key, result))
        finally:
            client.close()

    def _send(
        self, client: MeisaClient, payload: dict[str, Any], window: SendWindow | None
    ) -> SendResult:
        if self.stop.is_set():
            return SendResult(not_sent=True, error="stopped")
        try:
            return send_upsert(
                client,
                payload,
                limiter=self.limiter,
                policy=self.policy,
                stop=self.stop,
                window=window,
            )
        except Exception as err:  # a sender thread must never die silently
            return SendResult(error=f"{type(err).__name__} while sending")
