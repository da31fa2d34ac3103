"""Self-healing: ask a worker for ONE refresh when the mirror is never loaded or stale."""

from __future__ import annotations

import logging
import threading

from celery import current_app
from django.core.cache import cache

from django_meisa.suppression.freshness import first_in_process

logger = logging.getLogger("django_meisa.suppression")

#: The refresh task, published by name (nothing in the package imports tasks.py).
REFRESH_TASK = "django_meisa.tasks.refresh_suppressed_emails"
#: Seconds between two requests: per process, and site-wide through the default cache.
REQUEST_EVERY = 60.0
CACHE_KEY = "django_meisa:suppression:refresh-requested"


def request_refresh() -> threading.Thread | None:
    """Enqueue one refresh, unless one was requested in the last ``REQUEST_EVERY`` s.

    Called by the email backend on a never-loaded or stale mirror. Deduplicated per
    process and through Django's default cache (site-wide when the cache is shared),
    so a busy site enqueues about one refresh a minute, not one per message. Publishing
    runs in a daemon thread: a down broker never stalls or fails the send. Returns the
    thread (tests join it), or None when deduplicated.
    """
    if not first_in_process("refresh request", REQUEST_EVERY) or not _first_in_site():
        return None
    thread = threading.Thread(target=_publish, name="meisa-refresh-request", daemon=True)
    thread.start()
    return thread


def _first_in_site() -> bool:
    try:
        return bool(cache.add(CACHE_KEY, 1, timeout=int(REQUEST_EVERY)))
    except Exception as err:  # no usable cache: the per-process limit still holds
        logger.debug("Refresh request dedup cache unavailable (%s)", type(err).__name__)
        return True


def _publish() -> None:
    try:
        current_app.send_task(REFRESH_TASK, retry=False)
    except Exception as err:
        # The text may hold the broker URL (with its password): the type only.
        logger.warning("Could not enqueue a suppression refresh (%s)", type(err).__name__)
        return
    logger.warning("Suppression mirror not fresh: one refresh enqueued")
