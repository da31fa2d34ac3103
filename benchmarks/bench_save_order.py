"""A save's time by the side of the save before it (``python -m benchmarks.bench_save_order``).

Benchmark 1 times sync on, inline and off in turns. This runs them in a random order and
reports each side's median by the side that ran just before, to show whether one side
leaves the process slower for the next save (it does: the publisher's kombu and Celery
work). It informs benchmark 1's shuffled order and sets no goal; not in
``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics

from benchmarks import environment


def main(argv: list[str] | None = None) -> None:
    """Run ``--saves`` saves, each side picked at random, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--saves", type=int, default=9000, help="saves in all")
    parser.add_argument("--database", default="postgres", choices=["postgres", "mariadb"])
    args = parser.parse_args(argv)
    environment.setup(database=args.database, fresh=True)
    from benchmarks import bench_request_path as bench

    every = bench.sides(bench.save_once, bench.prepare(200))
    sides = {name: every[name] for name in ("on", "inline", "off")}
    for _ in range(bench.WARMUP):
        for side in sides.values():
            side()
    order = random.Random(bench.SEED)
    times: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    previous = "off"
    for _ in range(args.saves):
        name = order.choice(list(sides))
        times[name, previous].append(sides[name]())
        previous = name
    print(f"{'side':<8}{'after':<8}{'saves':>7}{'median ms':>11}")
    for (name, before), samples in sorted(times.items()):
        print(f"{name:<8}{before:<8}{len(samples):>7}{statistics.median(samples) * 1000:>11.3f}")
    bench.flush_broker()


if __name__ == "__main__":
    main()
