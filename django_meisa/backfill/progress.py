"""Backfill progress: a redrawn bar on a terminal, plain periodic lines everywhere else."""

from __future__ import annotations

import time
from typing import TextIO

from django_meisa.backfill.report import MeisaBackfillCounts

BAR_WIDTH = 28


class BackfillProgress:
    """Shows done / total, rate, ETA and failures while a backfill runs.

    On a TTY the bar is redrawn in place at most ``tty_interval`` seconds apart; when
    output is a file or a CI log, one plain line is written every ``interval`` seconds.
    ``verbosity`` 0 shows nothing. ``done_before`` counts users finished by earlier
    attempts of a resumed run, so the bar starts where the run left off.
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
