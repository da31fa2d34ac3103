"""Backfill outcome counts, the final summary text and the failures CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

#: The outcome of one user in a backfill, as counted in ``MeisaBackfillCounts``.
OUTCOMES = ("synced", "unchanged", "no_email", "suppressed", "ineligible", "failed")


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

    def count(self, outcome: str, n: int = 1) -> None:
        """Count ``n`` more users with ``outcome`` (one of ``OUTCOMES``)."""
        setattr(self, outcome, getattr(self, outcome) + n)

    def as_dict(self) -> dict[str, int]:
        """The counts keyed by outcome, for the chunk row and the command's return."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    verb = "Would sync" if result.dry_run else "Synced"
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
        f"  {verb + ':':<32}{counts.synced}",
        f"  {'Unchanged, skipped:':<32}{counts.unchanged}",
        f"  {'No email, skipped:':<32}{counts.no_email}",
        f"  {'Suppressed, skipped:':<32}{counts.suppressed}",
        f"  {'Ineligible, skipped:':<32}{counts.ineligible}",
        f"  {'Failed:':<32}{counts.failed}",
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
    """Write ``(user_pk, reason)`` rows to ``path`` as CSV with a header. Returns the count.

    Only the primary key and the reason are written: no email or other personal data.
    """
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_pk", "reason"])
        for user_pk, reason in rows:
            writer.writerow([user_pk, reason])
            written += 1
    return written
