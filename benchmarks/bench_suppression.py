"""Benchmark 3: refreshing the suppression mirror at 1,000,000 addresses.

Against the practical limit, timed in the same run: a bare ``COPY`` of the same list into
an empty table with a unique index. Each refresh runs in a fresh child process (so its
peak RSS is its own) and downloads the list from a local Meisa over HTTP, then diffs and
applies it; the COPY child only writes the list it already holds, so the comparison is
strict. Also reported: the download alone, and the 2% refresh on SQLite for the record.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from benchmarks import environment
from benchmarks.data import address_list, listed_email
from benchmarks.harness import Report, emit_result, parse_result, python_child, stopwatch

GOAL_FIRST_LOAD = 1.5
GOAL_DELTA = 0.5
GOAL_RSS_MB = 400
COPY_TABLE = "meisa_bench_copy"


# Children ---------------------------------------------------------------------------------


def child_copy(size: int) -> None:
    """Time a bare COPY of the list into an empty table with a unique index; then, for
    the refresh's floor, a COPY into an unindexed temporary table."""
    import psycopg

    emails = address_list(size)
    with psycopg.connect(environment.postgres_dsn()) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        conn.execute(f"CREATE TABLE {COPY_TABLE} (email varchar(254) NOT NULL)")
        conn.execute(f"CREATE UNIQUE INDEX {COPY_TABLE}_email ON {COPY_TABLE} (email)")
        conn.commit()
        with stopwatch() as elapsed:
            with conn.cursor().copy(f"COPY {COPY_TABLE} (email) FROM STDIN") as copy:
                for email in emails:
                    copy.write_row((email,))
            conn.commit()
        conn.execute(f"DROP TABLE {COPY_TABLE}")
        conn.commit()
        conn.execute("CREATE TEMPORARY TABLE meisa_bench_temp (email text NOT NULL)")
        with stopwatch() as temp:
            with conn.cursor().copy("COPY meisa_bench_temp (email) FROM STDIN") as copy:
                for email in emails:
                    copy.write_row((email,))
            conn.commit()
    emit_result(seconds=elapsed[0], temp_seconds=temp[0])


def child_refresh(database: str) -> None:
    """Time one ``refresh_suppressions()`` call: download, validate, diff, apply."""
    environment.setup(database=database)
    from django_meisa.suppression import refresh_suppressions

    with stopwatch() as elapsed:
        result = refresh_suppressions(force=True)
    emit_result(seconds=elapsed[0], result=repr(result)[:300])


def child_fetch() -> None:
    """Time the download and validation alone (``fetch_unsubscribed_emails``)."""
    environment.setup()
    from django_meisa.client import MeisaClient

    with stopwatch() as elapsed:
        listed = MeisaClient().fetch_unsubscribed_emails()
    emit_result(seconds=elapsed[0], count=listed.count)


# The parent ---------------------------------------------------------------------------------


def run_child(*args: str, base_url: str, database: str = "postgres") -> dict[str, Any]:
    """Run this module as a child with ``args``; return its result values."""
    env = {"MEISA_BENCH_BASE_URL": base_url, "MEISA_BENCH_DB": database}
    return parse_result(python_child("benchmarks.bench_suppression", *args, env=env))


def reset_mirror() -> None:
    """Empty the suppression tables (mirror and refresh state)."""
    from benchmarks.bench_request_path import meisa_tables

    environment.truncate(*[t for t in meisa_tables() if "suppress" in t])


def count_mirror() -> int:
    """Rows in the suppression mirror now."""
    from django_meisa.models import SuppressedEmail

    return SuppressedEmail.objects.count()


def change_list(fake: Any, size: int, change: int) -> None:
    """Unlist ``change`` addresses and list ``change`` new ones (a 2% change at 1%+1%)."""
    fake.remove_unsubscribed(*[listed_email(i) for i in range(change)])
    fake.add_unsubscribed(*[listed_email(size + i) for i in range(change)])


def restore_list(fake: Any, size: int, change: int) -> None:
    """Undo ``change_list``: back to the original ``size`` addresses."""
    fake.remove_unsubscribed(*[listed_email(size + i) for i in range(change)])
    fake.add_unsubscribed(*[listed_email(i) for i in range(change)])


def measure(report: Report, size: int, change: int, rounds: int) -> None:
    """Interleave COPY, first load and delta refresh; report medians and ratios."""
    from django_meisa.testing.fake import FakeMeisa
    from django_meisa.testing.server import serve_in_thread

    fake = FakeMeisa()
    fake.add_unsubscribed(*address_list(size))
    server, base_url = serve_in_thread(fake)
    copies, temps, firsts, deltas, rss = [], [], [], [], []
    try:
        for _ in range(rounds):
            copy = run_child("copy", str(size), base_url=base_url)
            copies.append(copy["seconds"])
            temps.append(copy["temp_seconds"])
            reset_mirror()
            first = run_child("refresh", "postgres", base_url=base_url)
            firsts.append(first["seconds"])
            loaded = count_mirror()
            change_list(fake, size, change)
            environment.vacuum_analyze(*[t for t in _tables() if "suppress" in t])
            delta = run_child("refresh", "postgres", base_url=base_url)
            deltas.append(delta["seconds"])
            rss += [first["peak_rss_mb"], delta["peak_rss_mb"]]
            after = count_mirror()
            restore_list(fake, size, change)
            print(
                f"    round: copy {copies[-1]:.2f}s first {firsts[-1]:.2f}s "
                f"delta {deltas[-1]:.2f}s rows {loaded} -> {after}",
                flush=True,
            )
        fetch = run_child("fetch", base_url=base_url)
        sqlite = measure_sqlite(fake, size, change, base_url)
    finally:
        server.stop()
    fetch["temp_seconds"] = median(temps)
    write_rows(report, size, change, copies, firsts, deltas, max(rss), fetch, sqlite)


def _tables() -> list[str]:
    from benchmarks.bench_request_path import meisa_tables

    return meisa_tables()


def measure_sqlite(fake: Any, size: int, change: int, base_url: str) -> dict[str, Any]:
    """The first load and the 2% refresh on a fresh SQLite file, for the record."""
    path = "/tmp/meisa_bench.sqlite3"  # noqa: S108
    if os.path.exists(path):
        os.remove(path)
    first = run_child("refresh", "sqlite", base_url=base_url, database="sqlite")
    change_list(fake, size, change)
    delta = run_child("refresh", "sqlite", base_url=base_url, database="sqlite")
    restore_list(fake, size, change)
    return {"first": first, "delta": delta}


def median(values: list[float]) -> float:
    """The median (rounds are few; the median resists one noisy round)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def write_rows(
    report: Report,
    size: int,
    change: int,
    copies: list[float],
    firsts: list[float],
    deltas: list[float],
    peak_rss: float,
    fetch: dict[str, Any],
    sqlite: dict[str, Any],
) -> None:
    """Turn the medians into report rows against the goals."""
    copy, first, delta = median(copies), median(firsts), median(deltas)
    n = f"{size:,}"
    report.add(
        f"first load of {n} / bare COPY",
        f"{first / copy:.2f}x",
        f"<= {GOAL_FIRST_LOAD}",
        first / copy <= GOAL_FIRST_LOAD,
        f"{first:.2f} s vs COPY {copy:.2f} s (median of {len(copies)})",
    )
    report.add(
        f"refresh, {2 * change:,} changed / bare COPY",
        f"{delta / copy:.2f}x",
        f"<= {GOAL_DELTA}",
        delta / copy <= GOAL_DELTA,
        f"{delta:.2f} s vs COPY {copy:.2f} s",
    )
    report.add(
        "peak RSS of a refresh",
        f"{peak_rss:.0f} MB",
        f"<= {GOAL_RSS_MB} MB",
        peak_rss <= GOAL_RSS_MB,
        "max over the refresh children",
    )
    report.add(
        "download + validation alone",
        f"{fetch['seconds']:.2f} s",
        detail=f"peak RSS {fetch['peak_rss_mb']:.0f} MB (part of every refresh)",
    )
    floor = fetch["seconds"] + fetch["temp_seconds"]
    report.add(
        "refresh floor / bare COPY",
        f"{floor / copy:.2f}x",
        detail=f"download + validation + COPY into an unindexed temp table = {floor:.2f} s: "
        "any full-list diff pays this before comparing a single row",
    )
    report.add(
        "SQLite: first load / 2% refresh",
        f"{sqlite['first']['seconds']:.2f} s / {sqlite['delta']['seconds']:.2f} s",
        detail=f"peak RSS {sqlite['delta']['peak_rss_mb']:.0f} MB (for the record)",
    )


def main(argv: list[str] | None = None) -> None:
    """Parent: ``--size``, ``--rounds``; children: ``copy N`` / ``refresh DB`` / ``fetch``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "copy":
        return child_copy(int(argv[1]))
    if argv and argv[0] == "refresh":
        return child_refresh(argv[1])
    if argv and argv[0] == "fetch":
        return child_fetch()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="addresses (1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    args = parser.parse_args(argv)
    environment.setup(fresh=True)
    report = Report("3 suppression")
    started = time.perf_counter()
    measure(report, args.size, args.size // 100, args.rounds)
    print(f"  ({time.perf_counter() - started:.0f} s)")
    report.finish()
    return None


if __name__ == "__main__":
    main()
