"""Run every benchmark, each in its own process, and print one table: ``python -m benchmarks``.

``--quick`` uses small sizes for a smoke run (the figures then mean little);
``--only 1,3`` runs a subset. Results go to ``benchmarks/results/latest.md`` too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import REPO, RESULTS_ENV, load_rows, machine, print_table

#: key -> (module, full-size args, --quick args). Keys ending in "m" are MariaDB.
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "1": ("benchmarks.bench_request_path", [], ["--saves", "200", "--logins", "100"]),
    "1m": (
        "benchmarks.bench_request_path",
        ["--database", "mariadb"],
        ["--saves", "200", "--logins", "100", "--database", "mariadb"],
    ),
    "1b": ("benchmarks.bench_latency", [], ["--seconds", "2"]),
    "2": (
        "benchmarks.bench_backfill",
        [],
        ["--users", "5000", "--small", "1000", "--enqueue-users", "5000"],
    ),
    "3": ("benchmarks.bench_suppression", [], ["--size", "50000", "--rounds", "1"]),
    "3m": (
        "benchmarks.bench_suppression",
        ["--database", "mariadb"],
        ["--size", "50000", "--rounds", "1", "--database", "mariadb"],
    ),
    "4": ("benchmarks.bench_email", [], ["--rows", "50000", "--rounds", "5"]),
    "4m": (
        "benchmarks.bench_email",
        ["--database", "mariadb"],
        ["--rows", "50000", "--rounds", "5", "--database", "mariadb"],
    ),
}


def main() -> int:
    """Run the selected benchmarks in order and print the combined table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated keys")
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc)
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as results:
        path = results.name
    failed = []
    for key in args.only.split(","):
        module, full, quick = BENCHES[key.strip()]
        print(f"== {module}", flush=True)
        argv = [sys.executable, "-m", module, *(quick if args.quick else full)]
        done = subprocess.run(argv, cwd=REPO, env={**os.environ, RESULTS_ENV: path}, check=False)
        if done.returncode:
            failed.append(module)
    rows = load_rows(path)
    os.unlink(path)
    command = " ".join(["python -m benchmarks", *sys.argv[1:]])
    caption = (
        f"{started:%Y-%m-%d %H:%M} UTC; {machine()}; local PostgreSQL, MariaDB and Redis; "
        f"`{command}`" + ("; QUICK sizes: smoke figures" if args.quick else "")
    )
    print(f"All benchmarks: {caption}")
    print_table(rows)
    save(rows, caption)
    for module in failed:
        print(f"FAILED: {module}", file=sys.stderr)
    return 1 if failed else 0


def save(rows: list, caption: str) -> None:  # type: ignore[type-arg,unused-ignore]
    """Write the table to ``benchmarks/results/latest.md`` (for the README)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_table(rows)
    target = Path(REPO, "benchmarks", "results", "latest.md")
    target.parent.mkdir(exist_ok=True)
    target.write_text(f"{caption}\n{out.getvalue()}")


if __name__ == "__main__":
    sys.exit(main())
