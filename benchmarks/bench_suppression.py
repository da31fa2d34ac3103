"""Benchmark 3: refreshing the suppression mirror at 1,000,000 addresses.

Against the practical limit, timed in the same run: a bare ``COPY`` of the same list into
an empty table with a unique index. Each refresh runs in a fresh child process (so its
peak RSS is its own) and downloads the list from a local Meisa over HTTP, then diffs and
applies it; the COPY child only writes the list it already holds, so the comparison is
strict. Also reported: the download alone, an unchanged list against it, and the 2%
refresh on SQLite for the record. ``--database mariadb`` runs the same against MariaDB,
whose limit is a bare multi-row ``INSERT`` (MySQLdb ``executemany``, 5,000 rows a
statement) into an empty InnoDB table with a unique index. Each ratio is the median of
the rounds' ratios (every round interleaves the limit and the refreshes), with the spread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from benchmarks import environment
from benchmarks.data import address_list, listed_email
from benchmarks.harness import (
    Report,
    emit_result,
    parse_result,
    python_child,
    spread,
    stopwatch,
)

GOAL_FIRST_LOAD = 1.5
GOAL_DELTA = 0.5
GOAL_RSS_MB = 400
GOAL_UNCHANGED = 1.2  # x the download + validation alone
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


def child_insert(size: int) -> None:
    """MariaDB's limit: a bare multi-row INSERT of the list into an empty InnoDB table
    with a unique index (the model's column type and a binary collation)."""
    import MySQLdb  # type: ignore[import-untyped]

    emails = address_list(size)
    conn = MySQLdb.connect(**environment.mariadb_options(environment.mariadb_name()))
    try:
        cursor = conn.cursor()
        cursor.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        cursor.execute(
            f"CREATE TABLE {COPY_TABLE} (email varchar(512) COLLATE utf8mb4_bin NOT NULL, "
            f"UNIQUE KEY {COPY_TABLE}_email (email)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
        sql = f"INSERT INTO {COPY_TABLE} (email) VALUES (%s)"
        with stopwatch() as elapsed:
            for start in range(0, size, 5000):
                cursor.executemany(sql, [(e,) for e in emails[start : start + 5000]])
            conn.commit()
        cursor.execute(f"DROP TABLE {COPY_TABLE}")
    finally:
        conn.close()
    emit_result(seconds=elapsed[0], temp_seconds=0.0)


def child_refresh(database: str) -> None:
    """Time one ``refresh_suppressions()`` call: download, validate, diff, apply.

    Called as the beat task calls it (no ``force``, which always diffs in full): an
    unchanged list may then skip the diff, as it does in production.
    """
    environment.setup(database=database)
    from django_meisa.suppression import refresh_suppressions

    profiler = start_profile()
    with stopwatch() as elapsed:
        result = refresh_suppressions()
    save_profile(profiler, f"{elapsed[0]:.2f} s: {result.summary()}")
    emit_result(seconds=elapsed[0], result=repr(result)[:300])


def start_profile() -> Any:
    """With ``MEISA_BENCH_PROFILE=<file>``, a started pyinstrument profiler (the ``bench``
    extra), for a missed goal's "where the time goes"; None without it."""
    if not os.environ.get("MEISA_BENCH_PROFILE"):
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    return profiler


def save_profile(profiler: Any, heading: str) -> None:
    """Stop ``profiler`` and append its call tree under ``heading`` to the file."""
    if profiler is None:
        return
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False)
    with open(os.environ["MEISA_BENCH_PROFILE"], "a", encoding="utf-8") as out:
        out.write(f"\n=== {heading}\n{text}")


def child_fetch(database: str) -> None:
    """Time the download and validation alone (``fetch_unsubscribed_emails``), freeing
    the list inside the stopwatch as a refresh does before it returns."""
    environment.setup(database=database)
    from django_meisa.client import MeisaClient

    with stopwatch() as elapsed:
        count = MeisaClient().fetch_unsubscribed_emails().count
    emit_result(seconds=elapsed[0], count=count)


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


def measure(report: Report, size: int, change: int, rounds: int, database: str) -> None:
    """Interleave the limit, first load, unchanged and delta refresh, and the download
    alone; report the median of the rounds' ratios and their spread."""
    from django_meisa.testing.fake import FakeMeisa
    from django_meisa.testing.server import serve_in_thread

    fake = FakeMeisa()
    fake.add_unsubscribed(*address_list(size))
    server, base_url = serve_in_thread(fake)
    limit = "copy" if database == "postgres" else "insert"
    rounds_seen: list[dict[str, Any]] = []
    sqlite: dict[str, Any] | None = None
    try:
        for _ in range(rounds):
            seen: dict[str, Any] = {"copy": run_child(limit, str(size), base_url=base_url)}
            reset_mirror()
            seen["first"] = run_child("refresh", database, base_url=base_url, database=database)
            # As autovacuum would have done after a million-row load, before the next
            # refresh: otherwise it runs during the unchanged one, which then pays for it.
            environment.vacuum_analyze(*[t for t in _tables() if "suppress" in t])
            seen["fetch"] = fetch_around(
                lambda: run_child("fetch", database, base_url=base_url, database=database),
                lambda: run_child("refresh", database, base_url=base_url, database=database),
                seen,
            )
            loaded = count_mirror()
            change_list(fake, size, change)
            seen["delta"] = run_child("refresh", database, base_url=base_url, database=database)
            after = count_mirror()
            restore_list(fake, size, change)
            rounds_seen.append(seen)
            print(
                "    round: "
                + " ".join(f"{k} {v['seconds']:.2f}s" for k, v in seen.items())
                + f" rows {loaded} -> {after}",
                flush=True,
            )
        if database == "postgres":
            sqlite = measure_sqlite(fake, size, change, base_url)
    finally:
        server.stop()
    write_rows(report, size, change, rounds_seen, sqlite, limit)


UNCHANGED_SAMPLES = 3  # a single run of ~1 s moves by a third under a shared machine's load


def fetch_around(fetch: Any, refresh: Any, seen: dict[str, Any]) -> dict[str, Any]:
    """The unchanged refresh (put in ``seen``) and the download alone, interleaved:
    download, refresh, download, ... download. Each side is the median of its runs, so
    neither gets the quieter moment of the round; the refresh's peak RSS is the largest."""
    fetches, refreshes = [fetch()], []
    for _ in range(UNCHANGED_SAMPLES):
        refreshes.append(refresh())
        fetches.append(fetch())
    seconds = [r["seconds"] for r in refreshes]
    seen["unchanged"] = {
        **refreshes[-1],
        "seconds": median(seconds),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in refreshes),
    }
    alone = [f["seconds"] for f in fetches]
    print(f"    unchanged {fmt(seconds)}; download alone {fmt(alone)}", flush=True)
    return {**fetches[-1], "seconds": median(alone)}


def fmt(seconds: list[float]) -> str:
    """Seconds as the progress lines print them."""
    return " ".join(f"{value:.2f}s" for value in seconds)


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


def ratios(rounds_seen: list[dict[str, Any]], part: str, base: str) -> list[float]:
    """``part`` seconds over ``base`` seconds, one ratio per round."""
    return [r[part]["seconds"] / r[base]["seconds"] for r in rounds_seen]


def secs(rounds_seen: list[dict[str, Any]], part: str) -> float:
    """The median seconds of ``part`` over the rounds."""
    return median([r[part]["seconds"] for r in rounds_seen])


def write_rows(
    report: Report,
    size: int,
    change: int,
    rounds_seen: list[dict[str, Any]],
    sqlite: dict[str, Any] | None,
    limit: str,
) -> None:
    """Turn the rounds into report rows against the goals."""
    n, what = f"{size:,}", "bare COPY" if limit == "copy" else "bare multi-row INSERT"
    copy = secs(rounds_seen, "copy")
    for part, label, goal in (
        ("first", f"first load of {n}", GOAL_FIRST_LOAD),
        ("delta", f"refresh, {2 * change:,} changed", GOAL_DELTA),
    ):
        values = ratios(rounds_seen, part, "copy")
        mid = median(values)
        report.add(
            f"{label} / {what}",
            f"{mid:.2f}x",
            f"<= {goal}",
            mid <= goal,
            f"{spread(values)}; {secs(rounds_seen, part):.2f} s vs {copy:.2f} s "
            f"(medians of {len(rounds_seen)} rounds)",
        )
    values = ratios(rounds_seen, "unchanged", "fetch")
    report.add(
        "refresh of an unchanged list / download + validation alone",
        f"{median(values):.2f}x",
        f"<= {GOAL_UNCHANGED}",
        median(values) <= GOAL_UNCHANGED,
        f"{spread(values)}; {secs(rounds_seen, 'unchanged'):.2f} s vs "
        f"{secs(rounds_seen, 'fetch'):.2f} s",
    )
    peak = max(r[p]["peak_rss_mb"] for r in rounds_seen for p in ("first", "delta", "unchanged"))
    report.add(
        "peak RSS of a refresh",
        f"{peak:.0f} MB",
        f"<= {GOAL_RSS_MB} MB",
        peak <= GOAL_RSS_MB,
        "max over the refresh children",
    )
    fetch = secs(rounds_seen, "fetch")
    if limit == "copy":
        floor = fetch + median([r["copy"]["temp_seconds"] for r in rounds_seen])
        report.add(
            "refresh floor / bare COPY",
            f"{floor / copy:.2f}x",
            detail=f"download + validation ({fetch:.2f} s) + COPY into an unindexed temp "
            f"table = {floor:.2f} s: any full-list diff pays this before comparing a row",
        )
    if sqlite is not None:
        report.add(
            "SQLite: first load / 2% refresh",
            f"{sqlite['first']['seconds']:.2f} s / {sqlite['delta']['seconds']:.2f} s",
            detail=f"peak RSS {sqlite['delta']['peak_rss_mb']:.0f} MB (for the record)",
        )


def main(argv: list[str] | None = None) -> None:
    """Parent: ``--size``, ``--rounds``, ``--database``; children: ``copy N`` /
    ``insert N`` / ``refresh DB`` / ``fetch DB``."""
    argv = sys.argv[1:] if argv is None else argv
    children = {
        "copy": lambda: child_copy(int(argv[1])),
        "insert": lambda: child_insert(int(argv[1])),
        "refresh": lambda: child_refresh(argv[1]),
        "fetch": lambda: child_fetch(argv[1]),
    }
    if argv and argv[0] in children:
        return children[argv[0]]()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="addresses (1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--database", default="postgres", choices=["postgres", "mariadb"])
    args = parser.parse_args(argv)
    environment.setup(database=args.database, fresh=True)
    report = Report(f"3 suppression ({environment.label(args.database)})")
    started = time.perf_counter()
    measure(report, args.size, args.size // 100, args.rounds, args.database)
    print(f"  ({time.perf_counter() - started:.0f} s)")
    report.finish()
    return None


if __name__ == "__main__":
    main()
