"""The backfill streams users: its peak memory does not grow with the number of users."""

from __future__ import annotations

import gc
import io
import tracemalloc

import pytest

from django_meisa.backfill import MeisaBackfillOptions, run_backfill
from django_meisa.models import BackfillRun, UserSyncState
from tests.backfill_support import StubClient, make_users

pytestmark = pytest.mark.django_db


def peak_bytes_of_a_backfill() -> int:
    """Peak traced memory of one inline backfill of every user (fresh run, forced)."""
    UserSyncState.objects.all().delete()
    BackfillRun.objects.all().delete()
    options = MeisaBackfillOptions(mode="inline", chunk_size=200, concurrency=2, force=True)
    gc.collect()
    tracemalloc.start()
    try:
        result = run_backfill(options, stdout=io.StringIO(), client_factory=StubClient)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    return peak


def test_peak_memory_is_flat_from_1200_to_3600_users(meisa_fake):
    make_users(1200)
    peak_bytes_of_a_backfill()  # warm-up: first-use caches (database driver, Django)
    small = peak_bytes_of_a_backfill()
    make_users(2400, start=1200)
    large = peak_bytes_of_a_backfill()

    assert UserSyncState.objects.count() == 3600
    # Three times the users. Loading them all would add some 5 MB (2 KB a user), about
    # ten times the small run's peak; streaming keeps the peak at two chunks' worth
    # whatever the table holds. The margin absorbs thread timing (how many results wait
    # to be written when the peak is taken), which varies from run to run.
    assert large < small * 2, (small, large)
