"""Backfill outcome counts, the progress shown while it runs, its summary and failures CSV."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TextIO

#: How the summary names each outcome after ``synced``.
LABELS = {
    "unchanged": "Unchanged, skipped",
    "no_email": "No email, skipped",
    "suppressed": "Suppressed, skipped",
    "ineligible": "Ineligible, skipped",
    "failed": "Failed",
}


@dataclass
class MeisaBackfillCounts:
    """How many users ended in each outcome. Adds up across chunks and resumes."""

    synced: int = 0
    unchanged: int = 0
    no_email: int = 0
    suppressed: int = 0
    #: Left out by ``MEISA["SHOULD_SYNC_USER"]`` (the sync's ``skipped_ineligible``).
    ineligible: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        """Users with a final outcome (whatever it is)."""
        return sum(getattr(self, f.name) for f in fields(self))

    def add(self, other: MeisaBackfillCounts) -> None:
        """Add ``other``'s counts to these, in place."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        """The counts keyed by outcome, for the chunk row and the command's return."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The outcome of one user in a backfill, as counted in ``MeisaBackfillCounts``.
OUTCOMES = tuple(f.name for f in fields(MeisaBackfillCounts))


@dataclass
class MeisaBackfillResult:
    """What a backfill run did. Returned by ``run_backfill`` and the command's library call."""

    run_id: int
    counts: MeisaBackfillCounts
    selected: int
    interrupted: bool = False
    dry_run: bool = False
    mode: str = "inline"
    elapsed: float = 0.0
    #: Why the run stopped early (a bad API key, a redirect), if it did.
    fatal_error: str = ""
    #: Chunks not done yet: left for ``--resume``, or still queued for Celery workers.
    pending_chunks: int = 0
    #: True when the command returned while Celery workers still process the run.
    detached: bool = False
    #: Users finished by earlier attempts of a resumed run (not this session's work).
    done_before: int = 0
    #: Users synced in chunks left unfinished: counted (not sent again) by ``--resume``.
    unfinished_synced: int = 0

    @property
    def ok(self) -> bool:
        """True when the run finished (or was handed to workers) with no failed user."""
        return not (self.counts.failed or self.interrupted or self.fatal_error)


def format_summary(result: MeisaBackfillResult) -> list[str]:
    """Return the final summary lines printed by ``meisa_backfill``."""
    counts = result.counts
    labels = {"synced": "Would sync" if result.dry_run else "Synced", **LABELS}
    session = counts.done - result.done_before
    rate = session / result.elapsed if result.elapsed > 0 else 0.0
    state = "interrupted" if result.interrupted else "finished"
    if result.detached:
        state = f"queued ({result.pending_chunks} chunks left for the Celery workers)"
    lines = [
        f"Backfill run #{result.run_id} {state} ({result.mode}"
        f"{', dry run' if result.dry_run else ''}): "
        f"{counts.done} of {result.selected} selected users in {result.elapsed:.1f}s "
        f"({rate:.0f}/s).",
        *(f"  {label + ':':<32}{getattr(counts, name)}" for name, label in labels.items()),
    ]
    if result.fatal_error:
        lines.append(f"Stopped early: {result.fatal_error}")
    if result.interrupted:
        if result.unfinished_synced:
            lines.append(
                f"  ...and {result.unfinished_synced} users synced in unfinished chunks "
                "(--resume counts them without sending them again)."
            )
        lines.append(
            f"{result.selected - counts.done} users left. Continue with: "
            f"python manage.py meisa_backfill --resume {result.run_id}"
        )
    return lines


def write_failures_csv(path: str | Path, rows: Iterable[tuple[str, str]]) -> int:
    """Write ``(user_pk, reason)`` rows to ``path`` as CSV; return the count. No personal data."""
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_pk", "reason"])
        for user_pk, reason in rows:
            writer.writerow([user_pk, reason])
            written += 1
    return written


BAR_WIDTH = 28


class BackfillProgress:
    """Shows done / total, rate, ETA and failures while a backfill runs.

    A bar redrawn in place on a TTY; off a TTY (a file, a CI log) one line every
    ``interval`` seconds. ``done_before`` (earlier attempts of a resumed run) makes the
    bar start where the run left off.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        total: int,
        done_before: int = 0,
        verbosity: int = 1,
        interval: float = 10.0,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream
        self.total = total
        self.done_before = done_before
        self.verbosity = verbosity
        self.tty = stream.isatty() if tty is None else tty
        self.interval = 0.2 if self.tty else interval
        self.started = time.monotonic()
        self._last_shown = 0.0
        self._drawn = False

    def update(self, counts: MeisaBackfillCounts, *, force: bool = False) -> None:
        """Show ``counts`` (this session's) if the interval has passed or ``force``."""
        if self.verbosity < 1:
            return
        now = time.monotonic()
        if not force and now - self._last_shown < self.interval:
            return
        self._last_shown = now
        line = self.render(counts, now - self.started)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line, so the summary starts on a fresh one."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def render(self, counts: MeisaBackfillCounts, elapsed: float) -> str:
        """Return one progress line for ``counts`` after ``elapsed`` seconds."""
        done = self.done_before + counts.done
        total = max(self.total, done)
        rate = counts.done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((total - done) / rate) if rate > 0 else "--:--"
        percent = 100 * done / total if total else 100.0
        text = (
            f"{done}/{total} {percent:3.0f}%  {rate:.0f} users/s  ETA {eta}  failed {counts.failed}"
        )
        if not self.tty:
            return "meisa_backfill: " + text
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as ``H:MM:SS`` (or ``M:SS`` under an hour)."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
