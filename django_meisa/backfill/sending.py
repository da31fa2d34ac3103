"""Sending a round's upserts under the one retry policy: by sender threads or in the caller.

Inline, each sender thread owns one keep-alive ``BackfillClient`` and only the HTTP calls
run there. The database work stays in the calling thread, so the backfill uses one database
connection and never fights SQLite's locks or leaks connections from threads.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from django_meisa.backfill.ratelimit import RateLimiter, wait
from django_meisa.client import MeisaClient
from django_meisa.contacts.state import error_text
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
_STOP = object()


class SendWindow(Protocol):
    """Until when upserts may start (a chunk's lease, renewed while it sends)."""

    send_deadline: float


@dataclass(frozen=True)
class SendResult:
    """What happened to one user's upsert: ``contact`` on success, else ``error``."""

    contact: dict[str, Any] | None = None
    error: str = ""
    #: Stopped before the upsert succeeded or failed for good: left for ``--resume``.
    not_sent: bool = False
    #: The error that should stop the whole run (bad key, redirect).
    fatal: MeisaError | None = None
    #: The user's lease ran out before a request could start: map it again.
    expired: bool = False
    #: The last error, when the user failed (``error`` is its description).
    exception: MeisaError | None = None


STOPPED = SendResult(not_sent=True, error="stopped")


def send_upsert(
    client: MeisaClient,
    payload: dict[str, Any],
    *,
    limiter: RateLimiter,
    policy: MeisaRetryPolicy,
    stop: threading.Event | None = None,
    window: SendWindow | None = None,
) -> SendResult:
    """Upsert ``payload`` under ``limiter``, retrying per ``policy``; never raises ``MeisaError``.

    No request starts after ``window.send_deadline`` (read per attempt, so renewals
    count): the result is then ``expired``, and the caller leases and maps again.
    """
    failures = waits = 0
    while True:
        if not limiter.acquire(stop):
            return STOPPED
        if window is not None and time.monotonic() > window.send_deadline:
            return SendResult(not_sent=True, expired=True, error="sync lease expired")
        try:
            return SendResult(contact=client.upsert_contact(payload))
        except MeisaRateLimitError as err:
            waits += 1
            if waits > policy.rate_limit_waits:
                return SendResult(error=error_text(err), exception=err)
            limiter.pause(policy.pause_for(err))
        except FATAL_ERRORS as err:
            return SendResult(error=error_text(err), fatal=err, exception=err)
        except MeisaError as err:
            failures += 1
            if not err.retryable or failures > policy.retries:
                return SendResult(error=error_text(err), exception=err)
            if not wait(policy.backoff_for(failures), stop):
                return STOPPED


class _Sender:
    """What both senders share: the limiter, the policy, the stop flag, one guarded send."""

    def __init__(
        self, limiter: RateLimiter, policy: MeisaRetryPolicy, stop: threading.Event | None
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self.stop = stop or threading.Event()

    def send(self, client: MeisaClient, payload: dict[str, Any], window: Any) -> SendResult:
        """Send unless stopped; an unexpected error fails the user, never the sender."""
        if self.stop.is_set():
            return STOPPED
        try:
            return send_upsert(
                client, payload, limiter=self.limiter, policy=self.policy, stop=self.stop,
                window=window,
            )  # fmt: skip
        except Exception as err:
            return SendResult(error=f"{type(err).__name__} while sending")


class SequentialSender(_Sender):
    """Sends in the calling thread, one upsert per ``collect()``: a chunk task's sender."""

    def __init__(
        self, client: MeisaClient, *, limiter: RateLimiter, policy: MeisaRetryPolicy
    ) -> None:
        super().__init__(limiter, policy, None)
        self.client = client
        self._jobs: deque[tuple[Hashable, dict[str, Any], SendWindow | None]] = deque()

    def submit(
        self, key: Hashable, payload: dict[str, Any], window: SendWindow | None = None
    ) -> None:
        """Queue ``payload``; it is sent by a later ``collect()``."""
        self._jobs.append((key, payload, window))

    def collect(self, timeout: float = 0.1) -> list[tuple[Hashable, SendResult]]:
        """Send the next queued upsert and return its result; once stopped, skip them all."""
        if self.stop.is_set():
            skipped = [(job[0], STOPPED) for job in self._jobs]
            self._jobs.clear()
            return skipped
        if not self._jobs:
            return []
        key, payload, window = self._jobs.popleft()
        return [(key, self.send(self.client, payload, window))]

    def alive(self) -> bool:
        """Always: the sending happens in the caller's thread."""
        return True


class SenderPool(_Sender):
    """``concurrency`` threads sending upserts; results come back through ``collect()``.

    ``submit()`` blocks when ``backlog`` jobs wait, which bounds memory. Once ``stop`` is
    set, queued jobs come back ``not_sent``; requests in flight finish, never cut in half.
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
        super().__init__(limiter, policy, stop)
        self.client_factory = client_factory
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
        """Queue ``payload``; its result comes back under ``key``."""
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
                    result = self.send(client, payload, window)
                except BaseException:
                    # KeyboardInterrupt or SystemExit in this thread (a test double, say):
                    # stop the whole run cleanly instead of dying silently.
                    self.stop.set()
                    result = STOPPED
                self._results.put((key, result))
        finally:
            client.close()


class BackfillSession(requests.Session):
    """A ``requests.Session`` for thousands of POSTs of JSON bodies to one URL.

    ``Session.request`` re-merges headers, cookies, auth and the environment on every
    call, more CPU than the rest of the request. Here a prepared request per (method,
    URL) is a template, copied with each body and rebuilt when the cookies change.
    """

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[tuple[str, str], tuple[int, requests.PreparedRequest]] = {}

    def request(  # type: ignore[override]
        self, method: str, url: str, data: Any = None, **kwargs: Any
    ) -> requests.Response:
        """``Session.request`` for the plain options ``MeisaClient`` passes (``timeout``...)."""
        prepared = self._template(method, url).copy()
        prepared.prepare_body(data, None)
        kwargs.setdefault("proxies", self.proxies)
        return self.send(prepared, **kwargs)

    def _template(self, method: str, url: str) -> requests.PreparedRequest:
        key, cookies = (method.upper(), url), len(self.cookies)
        cached = self._templates.get(key)
        if cached is None or cached[0] != cookies:
            cached = (cookies, self.prepare_request(requests.Request(method, url)))
            self._templates[key] = cached
        return cached[1]


class BackfillClient(MeisaClient):
    """A ``MeisaClient`` for a sender thread that posts thousands of upserts in a row.

    The environment ``requests`` re-reads per request (proxies, CA bundle) is resolved
    once for ``BASE_URL`` and pinned; ``~/.netrc`` is not consulted (Meisa uses a key).
    """

    def create_session(self) -> requests.Session:
        """Return a ``BackfillSession`` with the base headers, proxies and CA bundle."""
        base = super().create_session()
        session = BackfillSession()
        session.headers = base.headers
        resolved = base.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies.update(resolved["proxies"])
        session.verify = resolved["verify"]
        session.trust_env = False
        base.close()
        return session
