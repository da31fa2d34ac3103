"""Benchmark 1b: commit-to-task-start latency at a steady rate of sync-enabled saves.

Saves distinct users at ``--rate`` saves/s, each in its own transaction, through the
real request path (the version bump, then the publisher), with a Celery worker
(``benchmarks.latency_worker``, solo pool) whose ``sync_contact`` only notes its start
time. Latency is the worker's start time minus the save's commit time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks import environment
from benchmarks.harness import REPO, Report

GOAL_P99_MS = 50.0


def main(argv: list[str] | None = None) -> None:
    """Run the latency benchmark for each publish mode and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="saves per second (200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per mode (10)")
    args = parser.parse_args(argv)
    environment.setup(fresh=True)
    count = int(args.rate * args.seconds)
    report = Report("1b publish latency")
    worker = start_worker()
    try:
        for mode in ("auto", "inline"):
            users = prepare(count)
            latencies = run(users, args.rate, mode)
            add(report, mode, latencies, args.rate, count)
    finally:
        worker.terminate()
        worker.wait(10)
    report.finish()


def start_worker() -> subprocess.Popen[bytes]:
    """Start the latency worker and wait until it consumes (a probe task comes back)."""
    import redis
    from django.conf import settings

    from benchmarks.latency_worker import STARTS

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    argv = [sys.executable, "-m", "celery", "-A", "benchmarks.latency_worker", "worker"]
    argv += ["--pool", "solo", "--loglevel", "WARNING", "--without-gossip"]
    argv += ["--without-mingle", "--without-heartbeat"]
    env = {**os.environ, "MEISA_BENCH_BROKER": settings.CELERY_BROKER_URL}
    worker = subprocess.Popen(argv, cwd=REPO, env=env)
    from celery import current_app

    deadline = time.monotonic() + 60
    while not client.hexists(STARTS, "probe"):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError("the latency worker did not start")
        current_app.send_task("django_meisa.tasks.sync_contact", args=("probe",))
        time.sleep(0.5)
    return worker


def prepare(count: int) -> list[Any]:
    """``count`` fresh users with no sync state, and no recorded starts."""
    import redis
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from benchmarks.bench_request_path import meisa_tables
    from benchmarks.data import create_users

    environment.truncate(get_user_model()._meta.db_table, *meisa_tables())
    create_users(count)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("meisa-bench-task-starts")
    return list(get_user_model().objects.order_by("pk"))


def run(users: list[Any], rate: float, mode: str) -> list[float]:
    """Save each user once at ``rate`` per second; return commit-to-start seconds."""
    from django.conf import settings
    from django.db import transaction
    from django.test import override_settings

    commits: dict[str, float] = {}
    interval = 1.0 / rate
    with override_settings(MEISA={**settings.MEISA, "PUBLISH_MODE": mode}):
        started = time.perf_counter()
        for i, user in enumerate(users):
            pause = started + i * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            user.first_name = f"Rate{i}"
            with transaction.atomic():
                user.save()
            commits[str(user.pk)] = time.time()
        achieved[mode] = len(users) / (time.perf_counter() - started)
    return collect(commits)


#: Saves per second each mode really reached (below the target rate when a save takes
#: longer than 1 / rate: the process is then saturated and so is its GIL).
achieved: dict[str, float] = {}


def collect(commits: dict[str, float], timeout: float = 30.0) -> list[float]:
    """Wait for every task to start; return the latencies (seconds)."""
    import redis
    from django.conf import settings

    from benchmarks.latency_worker import STARTS

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    deadline = time.monotonic() + timeout
    while client.hlen(STARTS) < len(commits) and time.monotonic() < deadline:
        time.sleep(0.2)
    raw: dict[bytes, bytes] = client.hgetall(STARTS)  # type: ignore[assignment]
    starts = {k.decode(): float(v) for k, v in raw.items()}
    missing = set(commits) - set(starts)
    if missing:
        raise RuntimeError(f"{len(missing)} sync tasks never started")
    return [starts[pk] - at for pk, at in commits.items()]


def add(report: Report, mode: str, latencies: list[float], rate: float, count: int) -> None:
    """Report p50 and p99 of one mode's latencies (ms)."""
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    report.add(
        f"commit -> task start, PUBLISH_MODE={mode!r}: p99",
        f"{p99:.1f} ms",
        f"< {GOAL_P99_MS:.0f} ms",
        p99 < GOAL_P99_MS,
        f"p50 {p50:.1f} ms, max {ms[-1]:.1f} ms; {count} saves at {rate:.0f}/s "
        f"(reached {achieved.get(mode, 0):.0f}/s), solo worker",
    )


if __name__ == "__main__":
    main()
