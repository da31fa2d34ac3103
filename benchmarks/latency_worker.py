"""A Celery app for the latency benchmark: ``sync_contact`` only notes when it started.

Registered under the real task name (the request path publishes by name), so the
benchmark times commit -> task start without Meisa, HTTP or the sync's own work.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("MEISA_BENCH_BROKER", "redis://127.0.0.1:6379/13")
app = Celery("meisa_bench_latency", broker=BROKER)
app.conf.update(worker_prefetch_multiplier=64, broker_connection_retry_on_startup=True)
STARTS = "meisa-bench-task-starts"
_redis = redis.Redis.from_url(BROKER)


@app.task(name="django_meisa.tasks.sync_contact", ignore_result=True)
def sync_contact(user_pk: int) -> None:
    """Record ``pk start-time`` (the first start of each pk is what counts)."""
    _redis.hsetnx(STARTS, str(user_pk), repr(time.time()))
