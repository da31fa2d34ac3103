"""Background publisher: sync tasks leave the request thread for one thread per process.

The bump is the durable part of a request; the publish only starts the worker sooner
(the sweep re-publishes anything lost), so it need not hold up the request. Where a
thread can't be trusted (uWSGI without threads, gevent, eventlet, eager Celery), and
when the queue is full, publishes are inline.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from celery import current_app

from django_meisa import conf
from django_meisa.publish import SYNC_CONTACT, publish_task

logger = logging.getLogger("django_meisa.contacts.publisher")

#: Most messages published over one producer checkout.
BATCH_SIZE = 200
#: Kombu's publish retry intervals: quick, so a request never stalls.
QUICK_RETRIES = {"interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}

Item = tuple[Any, float | None, dict[str, Any] | None]  # (user pk, countdown, task kwargs)


def publish_later(
    pks: Iterable[Any], *, countdown: float | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """Publish one ``sync_contact`` per pk soon, off this thread (inline where it can't be);
    never raises. ``kwargs`` are the task's keyword arguments, the same for every pk."""
    pks = list(pks)
    if pks:
        if background_mode():
            _publisher.submit(pks, countdown, kwargs)
        else:
            publish_now(pks, countdown=countdown, kwargs=kwargs)


def publish_now(
    pks: Sequence[Any], *, countdown: float | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """Publish one ``sync_contact`` per pk on this thread, over one producer; never raises."""
    send_batch([(pk, countdown, kwargs) for pk in pks])


def send_batch(items: Sequence[Item]) -> None:
    """Publish ``items`` over one producer; on a failure log one WARNING (user pks only) and
    leave the rest, pending, to the sweep: the broker is down for them too."""
    app = site_app()
    done = 0
    try:
        with app.producer_or_acquire() as producer:
            for pk, countdown, kwargs in items:
                publish_one(pk, countdown, kwargs, producer)
                done += 1
    except Exception as err:
        # The exception's text may hold the broker URL (with its password): type only.
        logger.warning(
            "Could not enqueue the Meisa sync of user pk(s) %s (%s); they stay pending "
            "and the sweep will enqueue them",
            ", ".join(str(item[0]) for item in items[done:]),
            type(err).__name__,
        )


def publish_one(
    pk: Any, countdown: float | None, kwargs: dict[str, Any] | None, producer: Any
) -> None:
    """Publish one sync task by name over ``producer``, with a few quick kombu retries."""
    args = (str(pk) if isinstance(pk, uuid.UUID) else pk,)
    policy = {"max_retries": int(conf.get_setting("ENQUEUE_MAX_RETRIES")), **QUICK_RETRIES}
    options = {"retry": True, "retry_policy": policy, "countdown": countdown}
    publish_task(SYNC_CONTACT, args, producer=producer, kwargs=kwargs or None, **options)


def site_app() -> Any:
    """The Celery app this thread sees as current (the proxy's target, for other threads)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


# When a background thread can be trusted -------------------------------------------------


def background_mode() -> bool:
    """True when ``MEISA["PUBLISH_MODE"]`` and this process allow the publisher thread."""
    mode = conf.get_setting("PUBLISH_MODE")
    if mode == "background":
        return True
    if mode != "auto":
        return False  # "inline" (and anything unknown: the conservative choice)
    return inline_reason() is None


def inline_reason() -> str | None:
    """Why ``"auto"`` mode publishes inline in this process, or None (use the thread)."""
    if current_app.conf.task_always_eager:
        return "Celery runs tasks eagerly"
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is not None and not uwsgi_threads(uwsgi):
        return "uWSGI runs without enable-threads"
    if monkey_patched():
        return "gevent or eventlet monkey-patched threading"
    return None


def uwsgi_threads(uwsgi: Any) -> bool:
    """True when uWSGI runs Python threads (``enable-threads`` or ``threads``)."""
    options = getattr(uwsgi, "opt", {}) or {}
    return any(options.get(key) for key in ("enable-threads", "threads", b"enable-threads"))


def monkey_patched() -> bool:
    """True when gevent or eventlet replaced ``threading`` with green threads."""
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return True
    eventlet = sys.modules.get("eventlet.patcher")
    return bool(eventlet is not None and eventlet.is_monkey_patched("thread"))


# The publisher thread ----------------------------------------------------------------------


class Publisher:
    """A bounded queue of (pk, countdown, kwargs) and the one daemon thread publishing it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start afresh (new process after a fork): empty queue, no thread, new lock."""
        self.app: Any = None
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.queue: queue.Queue[Item] = queue.Queue(int(conf.get_setting("PUBLISH_QUEUE_SIZE")))
        self.thread: threading.Thread | None = None

    def submit(
        self, pks: Sequence[Any], countdown: float | None, kwargs: dict[str, Any] | None
    ) -> None:
        """Queue the publishes; the ones that don't fit are published inline, now."""
        if self.pid != os.getpid():  # forked without os.fork() (e.g. from C): no hook ran
            self.after_fork_in_child()
        self.start()
        for index, pk in enumerate(pks):
            try:
                self.queue.put_nowait((pk, countdown, kwargs))
            except queue.Full:  # noqa: PERF203 - the rare path, once per call
                logger.info("Meisa publish queue full: publishing %d inline", len(pks) - index)
                publish_now(pks[index:], countdown=countdown, kwargs=kwargs)
                return

    def start(self) -> None:
        """Start the thread once per process, with the calling thread's Celery app."""
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                app = self.app = site_app()
                self.thread = threading.Thread(
                    target=self.run, args=(app,), name="meisa-publisher", daemon=True
                )
                self.thread.start()

    def after_fork_in_child(self) -> None:
        """In a forked child: drop the parent's broker connections and queue, start afresh
        (Celery resets its pools only in ``multiprocessing`` children)."""
        if self.app is not None:
            self.app._after_fork()  # Celery's own reset of its producer and pool
        self.reset()

    def run(self, app: Any) -> None:
        """The thread: take what is queued, publish it in batches, forever."""
        app.set_current()  # current_app is thread-local: use the site's app, not a default
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:  # noqa: PERF203 - ends the batch
                    break
            try:
                send_batch(batch)
            except Exception:  # never let the thread die; the rows stay pending
                logger.exception("Meisa publisher: unexpected error; the sweep will enqueue")
            finally:
                for _ in batch:
                    self.queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to be published; False if not."""
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.thread is None or not self.thread.is_alive():
                    logger.warning(
                        "Meisa publisher: %d sync publish(es) left unpublished at exit; "
                        "they stay pending and the sweep will enqueue them",
                        self.queue.unfinished_tasks,
                    )
                    return False
                self.queue.all_tasks_done.wait(remaining)
        return True


def flush_at_exit() -> None:
    """``atexit`` hook: publish what is queued, for at most PUBLISH_FLUSH_TIMEOUT s."""
    if _publisher.pid == os.getpid():
        _publisher.flush(float(conf.get_setting("PUBLISH_FLUSH_TIMEOUT")))


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` s for this process's queued publishes; False if some remain."""
    return _publisher.flush(timeout)


_publisher = Publisher()
atexit.register(flush_at_exit)
os.register_at_fork(after_in_child=_publisher.after_fork_in_child)
