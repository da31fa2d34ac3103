"""Backfill existing users into Meisa: ``meisa_backfill``'s engine, usable from code.

from django_meisa.backfill import MeisaBackfillOptions, run_backfill

result = run_backfill(MeisaBackfillOptions(mode="inline", rate=20))
print(result.counts.synced, result.counts.failed)
"""

from __future__ import annotations

from django_meisa.backfill.options import MeisaBackfillOptions
from django_meisa.backfill.report import MeisaBackfillCounts, MeisaBackfillResult
from django_meisa.backfill.run import run_backfill
from django_meisa.backfill.selection import MeisaBackfillSelection
from django_meisa.retry import MeisaRetryPolicy

__all__ = [
    "MeisaBackfillCounts",
    "MeisaBackfillOptions",
    "MeisaBackfillResult",
    "MeisaBackfillSelection",
    "MeisaRetryPolicy",
    "run_backfill",
]
