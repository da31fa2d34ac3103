"""Ctrl-C and SIGTERM during a backfill: ask it to stop at a safe point, not mid-write."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGINT and SIGTERM set ``stop`` instead of raising.

    The backfill checks ``stop`` between steps, so it never dies halfway through
    recording results (which would make ``--resume`` send some users twice). A second
    Ctrl-C raises ``KeyboardInterrupt`` as usual, for a run stuck in a long wait.
    Outside the main thread (a Celery worker, a test thread) signals cannot be
    handled, and the block only yields ``stop``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous: dict[Any, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
