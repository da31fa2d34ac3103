"""Benchmark 2: ``meisa_backfill`` throughput and memory against a raw HTTP loop.

The limit is what the local Meisa (a separate process) and loopback can take: a raw loop
of the same number of threads, one keep-alive ``requests.Session`` each, POSTing
precomputed payloads for the same users. Runs alternate raw, backfill, raw (the backfill
is compared with the mean of the raw runs around it). The backfill's time is the whole
command's wall time, startup included; the raw loop's is its POSTs only. Peak RSS of
the backfill at 100,000 users vs 10,000. Then enqueue mode with 2 Celery workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import environment
from benchmarks.data import create_users
from benchmarks.harness import REPO, Report, parse_result, python_child
from benchmarks.server import LocalMeisa

GOAL_THROUGHPUT = 0.8
GOAL_RSS_GROWTH = 0.10


def reset_sync_state(meisa: LocalMeisa) -> None:
    """Forget every sync and backfill record here, and every contact in the fake."""
    from benchmarks.bench_request_path import meisa_tables

    environment.truncate(*[t for t in meisa_tables() if "suppress" not in t])
    meisa.reset()


def backfill(meisa: LocalMeisa, users: int, threads: int, *extra: str) -> dict[str, Any]:
    """Run ``meisa_backfill --inline`` as a child; return its time, RSS and rate."""
    reset_sync_state(meisa)
    child = python_child(
        "django",
        "meisa_backfill",
        "--inline",
        f"--concurrency={threads}",
        *extra,
        env={
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "MEISA_BENCH_BASE_URL": meisa.base_url,
        },
    )
    upserts = meisa.health()["upserts"]
    if upserts != users:
        print(child.stdout[-3000:])
        raise RuntimeError(f"backfill sent {upserts} upserts for {users} users")
    print(
        f"    backfill {users:,}: {child.seconds:.1f} s, {users / child.seconds:.0f}/s, "
        f"peak RSS {child.peak_rss_mb:.0f} MB, CPU {child.cpu_seconds:.1f} s "
        f"({1000 * child.cpu_seconds / users:.2f} ms per user)",
        flush=True,
    )
    return {
        "seconds": child.seconds,
        "rate": users / child.seconds,
        "rss": child.peak_rss_mb,
        "cpu": child.cpu_seconds,
    }


def write_payloads(path: str) -> int:
    """Precompute every user's upsert body (as the backfill would send it) into ``path``."""
    from django.contrib.auth import get_user_model

    from django_meisa.contacts.mapping import build_contact_payload

    count = 0
    with open(path, "w") as out:
        for user in get_user_model().objects.order_by("pk").iterator(chunk_size=2000):
            payload = {**build_contact_payload(user), "source": "initial_sync"}
            out.write(json.dumps(payload, separators=(",", ":")) + "\n")
            count += 1
    return count


def raw_loop(meisa: LocalMeisa, path: str, users: int, threads: int) -> dict[str, Any]:
    """Run the raw loop child against a freshly reset fake."""
    meisa.reset()
    result = parse_result(python_child("benchmarks.rawloop", path, meisa.base_url, str(threads)))
    if result["errors"] or meisa.health()["upserts"] != users:
        raise RuntimeError(f"raw loop: {result['errors']} errors")
    rate = users / result["seconds"]
    print(f"    raw loop {users:,}: {result['seconds']:.1f} s, {rate:.0f}/s", flush=True)
    return {"seconds": result["seconds"], "rate": rate}


def enqueue(meisa: LocalMeisa, users: int, workers: int, chunk: int) -> dict[str, Any]:
    """``meisa_backfill --enqueue`` drained by a Celery worker with ``workers`` processes.

    Timed from the command's start until the fake has received every upsert.
    """
    reset_sync_state(meisa)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "MEISA_BENCH_BASE_URL": meisa.base_url,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.celery_app",
            "worker",
            f"--concurrency={workers}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        started = time.perf_counter()
        python_child("django", "meisa_backfill", "--enqueue", f"--chunk-size={chunk}", env=env)
        while meisa.health()["upserts"] < users:
            if time.perf_counter() - started > 1800:
                raise RuntimeError("enqueue mode did not finish in 30 minutes")
            time.sleep(0.5)
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(f"    enqueue {users:,}: {seconds:.1f} s, {users / seconds:.0f}/s", flush=True)
    return {"seconds": seconds, "rate": users / seconds}


def measure(report: Report, small: int, large: int, threads: int, enqueue_users: int) -> None:
    """The whole sequence: 10k backfill, 100k raw/backfill/raw, enqueue."""
    from django.contrib.auth import get_user_model

    environment.truncate(get_user_model()._meta.db_table)
    create_users(small)
    environment.vacuum_analyze(get_user_model()._meta.db_table)
    meisa = LocalMeisa()
    try:
        at_small = backfill(meisa, small, threads)
        create_users(large - small, start=small)
        environment.vacuum_analyze(get_user_model()._meta.db_table)
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as payloads:
            write_payloads(payloads.name)
            raw_before = raw_loop(meisa, payloads.name, large, threads)
            at_large = backfill(meisa, large, threads)
            raw_after = raw_loop(meisa, payloads.name, large, threads)
        queued = enqueue_mode(meisa, enqueue_users, large)
    finally:
        meisa.stop()
    raw_rate = (raw_before["rate"] + raw_after["rate"]) / 2
    write_rows(report, threads, small, large, at_small, at_large, raw_rate, queued)


def enqueue_mode(meisa: LocalMeisa, users: int, large: int) -> dict[str, Any] | None:
    """Enqueue mode over every user (``users`` must equal the table size), or None."""
    if users <= 0:
        return None
    if users != large:
        raise SystemExit("--enqueue-users must be 0 or equal to --users")
    return {**enqueue(meisa, users, 2, 500), "users": users}


def write_rows(
    report: Report,
    threads: int,
    small: int,
    large: int,
    at_small: dict[str, Any],
    at_large: dict[str, Any],
    raw_rate: float,
    queued: dict[str, Any] | None,
) -> None:
    """Report throughput and memory against the goals."""
    share = at_large["rate"] / raw_rate
    report.add(
        f"--inline {large:,} users / raw loop ({threads} threads)",
        f"{share:.2f}x",
        f">= {GOAL_THROUGHPUT}",
        share >= GOAL_THROUGHPUT,
        f"{at_large['rate']:.0f}/s ({at_large['seconds']:.0f} s, "
        f"CPU {at_large['cpu']:.0f} s) vs raw "
        f"{raw_rate:.0f}/s (mean of the runs before and after)",
    )
    growth = at_large["rss"] / at_small["rss"] - 1
    report.add(
        f"peak RSS at {large:,} vs {small:,} users",
        f"{growth:+.1%}",
        f"within {GOAL_RSS_GROWTH:.0%}",
        abs(growth) <= GOAL_RSS_GROWTH,
        f"{at_large['rss']:.0f} MB vs {at_small['rss']:.0f} MB",
    )
    if queued:
        report.add(
            f"--enqueue {queued['users']:,} users, 2 worker processes",
            f"{queued['rate']:.0f}/s",
            detail=f"{queued['seconds']:.0f} s from command start to last upsert; "
            f"{queued['rate'] / raw_rate:.2f}x the raw loop",
        )


def main(argv: list[str] | None = None) -> None:
    """Parse ``--users``, ``--small``, ``--threads``, ``--enqueue-users`` and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000, help="large run (100,000)")
    parser.add_argument("--small", type=int, default=10_000, help="small run (10,000)")
    parser.add_argument("--threads", type=int, default=4, help="threads on both sides (4)")
    parser.add_argument(
        "--enqueue-users",
        type=int,
        default=None,
        help="users for enqueue mode (default: --users; 0 skips)",
    )
    args = parser.parse_args(argv)
    environment.setup(fresh=True)
    report = Report("2 backfill")
    enqueue_users = args.users if args.enqueue_users is None else args.enqueue_users
    measure(report, args.small, args.users, args.threads, enqueue_users)
    report.finish()


if __name__ == "__main__":
    main()
