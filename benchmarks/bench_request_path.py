"""Benchmark 1: what sync adds to a request that saves a user, or logs one in.

Sync enabled with a real Redis broker against ``MEISA["ENABLED"] = False``, on
PostgreSQL: save by save in a shuffled order, so machine noise and whatever one save
leaves behind hit every side alike, and in alternating blocks, the steady state of a site
where every save syncs against one where none does.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks import environment
from benchmarks.harness import (
    Report,
    in_blocks,
    interleave,
    median_ms,
    ratio,
    self_peak_rss_mb,
    spread,
    stopwatch,
)

GOAL_RATIO = 1.3
GOAL_EXTRA_QUERIES = 1
WARMUP = 50
RUNS = 3
BLOCK = 25  # actions per side per block in the steady-state measure
SEED = 16  # the shuffled order is the same in every run of the benchmark


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table (``--saves`` to change the count)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--saves", type=int, default=1000, help="saves per side per run")
    parser.add_argument("--logins", type=int, default=400, help="logins per side per run")
    parser.add_argument("--database", default="postgres", choices=["postgres", "mariadb"])
    args = parser.parse_args(argv)
    environment.setup(database=args.database, fresh=True)
    users = prepare(200)
    report = Report(f"1 request path ({environment.label(args.database)})")
    measure_saves(report, users, args.saves)
    measure_logins(report, users, args.logins)
    report.add("peak RSS (benchmark process)", f"{self_peak_rss_mb():.0f} MB")
    flush_broker()
    report.finish()


def prepare(count: int) -> list[Any]:
    """Fresh users, fresh sync state, an empty queue; return the users."""
    from django.contrib.auth import get_user_model

    from benchmarks.data import create_users

    environment.truncate(get_user_model()._meta.db_table, *meisa_tables())
    create_users(count)
    environment.vacuum_analyze(get_user_model()._meta.db_table)
    flush_broker()
    return list(get_user_model().objects.order_by("pk"))


def meisa_tables() -> list[str]:
    """django-meisa's own tables (sync state etc.), emptied between runs."""
    from django.apps import apps

    return [m._meta.db_table for m in apps.get_app_config("django_meisa").get_models()]


def flush_broker() -> None:
    """Drop the queued sync tasks: no worker runs here, we only measure the publish."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def queued_tasks() -> int:
    """Messages waiting in the default Celery queue (proof the publish really happened).

    Waits for the background publisher first: its queue must be empty to count them all.
    """
    import redis
    from django.conf import settings

    from django_meisa.contacts import publisher

    if not publisher.flush(60):
        raise RuntimeError("the publisher did not empty its queue within 60 s")

    return int(redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery"))


def sync_switch(enabled: bool, mode: str = "auto") -> Any:
    """``override_settings`` turning sync on (the bench settings) or off, with the given
    ``PUBLISH_MODE`` ("auto" is the background publisher here)."""
    from django.conf import settings
    from django.test import override_settings

    return override_settings(MEISA={**settings.MEISA, "ENABLED": enabled, "PUBLISH_MODE": mode})


def save_once(users: list[Any], counter: list[int]) -> float:
    """Change a mapped field of the next user, save it and commit; return the seconds."""
    from django.db import transaction

    counter[0] += 1
    user = users[counter[0] % len(users)]
    user.first_name = f"Name{counter[0]}"
    with stopwatch() as elapsed, transaction.atomic():
        user.save()
    return elapsed[0]


def login_once(users: list[Any], counter: list[int]) -> float:
    """Log the next user in through the test client (session + user_logged_in)."""
    from django.test import Client

    counter[0] += 1
    client = Client()
    user = users[counter[0] % len(users)]
    with stopwatch() as elapsed:
        client.force_login(user)
    return elapsed[0]


def floor_extras() -> float:
    """The design's bare minimum on top of a sync-off action, timed: one more SQL round
    trip and one raw Redis LPUSH of a Celery-sized message (no Celery, no kombu)."""
    import redis
    from django.conf import settings
    from django.db import connection

    client = _redis_clients.setdefault(0, redis.Redis.from_url(settings.CELERY_BROKER_URL))
    with stopwatch() as elapsed:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        client.lpush("meisa-bench-floor", FLOOR_MESSAGE)
    return elapsed[0]


_redis_clients: dict[int, Any] = {}
FLOOR_MESSAGE = b"x" * 1200  # about the size of a sync_contact task message


def sides(
    action: Callable[[list[Any], list[int]], float], users: list[Any]
) -> dict[str, Callable[[], float]]:
    """The four sides, each timing one ``action``: sync on (background publisher), sync on
    with an inline publish, off, and off + the floor.

    After each "on" action the publisher's queue is waited for, untimed: its thread's
    work is then never inside an action's own time, so "on" is what the request thread
    pays (the next action still runs slower for it: hence the shuffled order).
    """
    from django_meisa.contacts import publisher

    counter = [0]

    def run(enabled: bool, mode: str = "auto") -> float:
        with sync_switch(enabled, mode):
            return action(users, counter)

    def background() -> float:
        seconds = run(True)
        publisher.flush(5)
        return seconds

    return {
        "on": background,
        "inline": lambda: run(True, "inline"),
        "off": lambda: run(False),
        "floor": lambda: run(False) + floor_extras(),
    }


def side_by_side(
    action: Callable[[list[Any], list[int]], float], users: list[Any], rounds: int
) -> list[dict[str, list[float]]]:
    """``RUNS`` runs of ``rounds`` shuffled rounds of the four ``sides``, then ``RUNS``
    steady-state runs of "on" and "off" in blocks."""
    variants = sides(action, users)
    for _ in range(WARMUP):  # warm up every side: connections, caches, the broker channel
        for variant in variants.values():
            variant()
    # Shuffled: a save right after a sync-enabled one is slower, whichever side it is
    # (the publisher's work has just run in this process); a fixed order would always
    # put "on" after "inline" or "on", and "floor" never after either.
    order = random.Random(SEED)
    runs = [interleave(rounds, variants, shuffle=order) for _ in range(RUNS)]
    steady = [
        in_blocks(steady_blocks(rounds), BLOCK, {"on": variants["on"], "off": variants["off"]})
        for _ in range(RUNS)
    ]
    for run_, blocks in zip(runs, steady, strict=True):
        run_["steady on"], run_["steady off"] = blocks["on"], blocks["off"]
    return runs


def steady_blocks(rounds: int) -> int:
    """Blocks per side in a steady-state run: about 0.4 ``rounds`` actions of each side."""
    return max(2, 2 * rounds // (5 * BLOCK))


def count_queries(action: Callable[[list[Any], list[int]], float], users: list[Any]) -> int:
    """SQL queries one sync-enabled action makes beyond the same action with sync off."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for enabled in (True, False):
        with sync_switch(enabled), CaptureQueriesContext(connection) as captured:
            action(users, [7])
        counts[enabled] = len(captured.captured_queries)
    return counts[True] - counts[False]


def run_ratios(runs: list[dict[str, list[float]]], side: str, base: str) -> list[float]:
    """The ratio of the medians of ``side`` and ``base``, one per run."""
    return [ratio(median_ms(run[side]), median_ms(run[base])) for run in runs]


def mid(values: list[float]) -> float:
    """The median of a few values."""
    return statistics.median(values)


def add_floor(report: Report, what: str, runs: list[dict[str, list[float]]]) -> None:
    """Report the floor of the design (one SQL round trip + one raw LPUSH) and our
    distance to it, and what an inline publish would cost."""
    floor = run_ratios(runs, "floor", "off")
    report.add(
        f"{what}: floor / off (1 SQL round trip + 1 raw LPUSH)",
        f"{mid(floor):.2f}x",
        detail=f"{spread(floor)}; sync on is {mid(run_ratios(runs, 'on', 'floor')):.2f}x the floor",
    )
    inline = run_ratios(runs, "inline", "off")
    report.add(
        f"{what}, sync on with PUBLISH_MODE='inline' / off",
        f"{mid(inline):.2f}x",
        detail=f"{spread(inline)}; the publish on the request thread, for comparison",
    )


def measure_saves(report: Report, users: list[Any], saves: int) -> None:
    """Median save+commit time with sync on and off, the ratio and the extra queries."""
    measure(report, users, save_once, saves, label="save+commit", unit="save")


def measure_logins(report: Report, users: list[Any], logins: int) -> None:
    """Median login time with sync on and off, the ratio and the extra queries."""
    measure(report, users, login_once, logins, label="login", unit="login")


def measure(
    report: Report,
    users: list[Any],
    action: Callable[[list[Any], list[int]], float],
    rounds: int,
    *,
    label: str,
    unit: str,
) -> None:
    """Time ``action`` with sync on, off and at the floor; report the ratio and queries."""
    flush_broker()
    runs = side_by_side(action, users, rounds)
    # Every "on" and "inline" action published one task (warm-up and steady state included).
    published = queued_tasks() / (
        2 * (RUNS * rounds + WARMUP) + RUNS * steady_blocks(rounds) * BLOCK
    )
    ratios = run_ratios(runs, "on", "off")
    on = mid([median_ms(run["on"]) for run in runs])
    off = mid([median_ms(run["off"]) for run in runs])
    report.add(
        f"{label}, sync on / off",
        f"{mid(ratios):.2f}x",
        f"<= {GOAL_RATIO}",
        mid(ratios) <= GOAL_RATIO,
        f"{spread(ratios)}; median {on:.3f} ms vs {off:.3f} ms, {RUNS} runs x {rounds} "
        f"{unit}s each; {published:.2f} broker publishes per sync-enabled {unit}",
    )
    steady = run_ratios(runs, "steady on", "steady off")
    report.add(
        f"{label}, steady state: sync on / off",
        f"{mid(steady):.2f}x",
        f"<= {GOAL_RATIO}",
        mid(steady) <= GOAL_RATIO,
        f"{spread(steady)}; median {mid([median_ms(r['steady on']) for r in runs]):.3f} ms vs "
        f"{mid([median_ms(r['steady off']) for r in runs]):.3f} ms; blocks of {BLOCK} {unit}s "
        "of one side, alternating: every action follows one of its own side",
    )
    add_floor(report, label, runs)
    extra = count_queries(action, users)
    report.add(
        f"extra SQL queries per {unit}",
        str(extra),
        f"<= {GOAL_EXTRA_QUERIES}",
        extra <= GOAL_EXTRA_QUERIES,
    )


if __name__ == "__main__":
    main()
