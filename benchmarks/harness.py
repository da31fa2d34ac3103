"""Shared benchmark harness: timing, peak RSS of child processes, result rows, the table."""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_ENV = "MEISA_BENCH_RESULTS"


@dataclass
class Row:
    """One measured figure: what, how much, against which goal, and whether it is met."""

    bench: str
    metric: str
    value: str
    goal: str = ""
    met: bool | None = None
    detail: str = ""


@dataclass
class Report:
    """The rows one benchmark script produces; printed as a table and saved as JSON."""

    bench: str
    rows: list[Row] = field(default_factory=list)

    def add(
        self, metric: str, value: str, goal: str = "", met: bool | None = None, detail: str = ""
    ) -> None:
        """Record one figure (``met`` None when there is no goal)."""
        self.rows.append(Row(self.bench, metric, value, goal, met, detail))
        print(f"  [{self.bench}] {metric}: {value}  {goal}  {detail}", flush=True)

    def finish(self) -> None:
        """Print the table, and append the rows to ``$MEISA_BENCH_RESULTS`` if set."""
        print_table(self.rows)
        path = os.environ.get(RESULTS_ENV)
        if path:
            with open(path, "a") as out:
                for row in self.rows:
                    out.write(json.dumps(asdict(row)) + "\n")


def print_table(rows: Sequence[Row]) -> None:
    """Print rows as a plain Markdown table (pasteable into the README)."""
    header = ("Benchmark", "Metric", "Value", "Goal", "Met", "Figures")
    lines = [header] + [
        (r.bench, r.metric, r.value, r.goal, {True: "yes", False: "NO", None: ""}[r.met], r.detail)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print()
    print(fmt.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print(fmt.format(*line))
    print(flush=True)


def load_rows(path: str) -> list[Row]:
    """Read the rows saved by ``Report.finish`` (one JSON object a line)."""
    with open(path) as source:
        return [Row(**json.loads(line)) for line in source if line.strip()]


# Timing ----------------------------------------------------------------------------------


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Time a block: ``with stopwatch() as t: ...`` then ``t[0]`` is the seconds taken."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


def median_ms(samples: Sequence[float]) -> float:
    """Median of samples in seconds, as milliseconds."""
    return statistics.median(samples) * 1000


def spread(ratios: Sequence[float]) -> str:
    """The runs' ratios and their spread, e.g. ``"runs 1.21x 1.24x 1.30x, spread 0.09"``."""
    listed = " ".join(f"{r:.2f}x" for r in ratios)
    return f"runs {listed}, spread {max(ratios) - min(ratios):.2f}"


def interleave(
    rounds: int, variants: dict[str, Callable[[], Any]], *, shuffle: random.Random | None = None
) -> dict[str, list[Any]]:
    """Run each variant once per round, alternating which goes first (noise hits both).

    With ``shuffle``, each round runs the variants in a random order instead: then every
    variant follows every other one about equally often. Use it when a variant leaves
    the process slower for whatever runs next (a fixed order would charge that to the
    same neighbour every time).
    """
    results: dict[str, list[Any]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(rounds):
        if shuffle is not None:
            order = shuffle.sample(names, len(names))
        else:
            order = names if i % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(variants[name]())
    return results


def in_blocks(
    blocks: int, size: int, variants: dict[str, Callable[[], Any]]
) -> dict[str, list[Any]]:
    """Run each variant ``size`` times in a row, block after block, alternating which goes
    first; a block's first sample (which follows the other variant) is dropped.

    This is the steady state of a process that only ever does one variant, with the
    blocks still alternating so that noise hits every variant alike.
    """
    results: dict[str, list[Any]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(blocks):
        for name in names if i % 2 == 0 else names[::-1]:
            samples = [variants[name]() for _ in range(size)]
            results[name].extend(samples[1:])
    return results


# Memory ----------------------------------------------------------------------------------


def self_peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class ChildResult:
    """A finished child process: exit code, wall and CPU seconds, peak RSS and its output."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    cpu_seconds: float = 0.0


def run_child(args: Sequence[str], *, env: dict[str, str] | None = None) -> ChildResult:
    """Run a command, wait for it with ``wait4`` and return its own peak RSS and time.

    ``wait4`` gives the rusage of that one child, unlike ``RUSAGE_CHILDREN`` (the max of
    every child ever waited for). Output goes to a temp file so a big output can't block.
    """
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    result = ChildResult(proc.returncode, seconds, usage.ru_maxrss / 1024, text, cpu)
    if result.returncode != 0:
        print(text[-4000:], file=sys.stderr)
        raise RuntimeError(f"{' '.join(args[:4])}... exited {result.returncode}")
    return result


def python_child(module: str, *args: str, env: dict[str, str] | None = None) -> ChildResult:
    """Run ``python -m module args`` with this interpreter (see ``run_child``)."""
    merged = {**os.environ, **(env or {})}
    return run_child([sys.executable, "-m", module, *args], env=merged)


# Reporting helpers -------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    """``a / b``, guarding against a zero baseline."""
    return a / b if b else float("inf")


def machine() -> str:
    """A one-line description of the machine, for the table's caption."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GB RAM"
    except OSError:
        mem = "? RAM"
    load = os.getloadavg()[0]  # other work on the machine skews every figure: say how much
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem}, Python {platform.python_version()}, "
        f"load average {load:.1f} at the start"
    )


# Child protocol ----------------------------------------------------------------------------

RESULT_PREFIX = "MEISA-BENCH-RESULT "


def emit_result(**values: Any) -> None:
    """Print a child's measured values as one JSON line the parent can find."""
    print(RESULT_PREFIX + json.dumps(values), flush=True)


def parse_result(child: ChildResult) -> dict[str, Any]:
    """Return the values a child printed with ``emit_result``, plus its peak RSS."""
    for line in reversed(child.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            values: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            values.setdefault("peak_rss_mb", child.peak_rss_mb)
            values.setdefault("wall_seconds", child.seconds)
            return values
    raise RuntimeError(f"the child printed no result:\n{child.stdout[-2000:]}")
