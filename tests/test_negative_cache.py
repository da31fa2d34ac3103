"""The negative cache: never a false "not suppressed", whatever wrote the mirror, wherever."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from django_meisa.models import SuppressedEmail, SuppressionGeneration
from django_meisa.suppression import negative_cache
from django_meisa.suppression.lookup import suppressed_keys
from django_meisa.suppression.negative_cache import KeyFilter, bump_generation, current_generation


@pytest.fixture
def cache(settings):
    """The process's cache, enabled and empty before and after the test."""
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_NEGATIVE_CACHE": True}
    negative_cache.cache.clear()
    yield negative_cache.cache
    negative_cache.cache.clear()


@pytest.fixture
def receivers():
    """The post_save/post_delete safety net, connected as the app's ready() does."""
    from django.db.models.signals import post_delete, post_save

    was_connected = any(r[0][0] == "meisa_generation_save" for r in post_save.receivers)
    negative_cache.connect_receivers()
    yield
    if not was_connected:
        post_save.disconnect(sender=SuppressedEmail, dispatch_uid="meisa_generation_save")
        post_delete.disconnect(sender=SuppressedEmail, dispatch_uid="meisa_generation_del")


def answer(cache, keys):
    """The cache's answer for ``keys``: a set, or None for "the plain lookup of all"."""
    return cache.lookup(keys, "default", batch=2000)


def test_the_filter_has_no_false_negatives_and_few_false_positives():
    keys = [f"user{i}@example.com" for i in range(100_000)]
    built = KeyFilter(token=1, expected=len(keys))
    built.add_all(keys)
    assert built.possible(keys) == keys
    others = [f"other{i}@example.org" for i in range(100_000)]
    assert len(built.possible(others)) < 1_000  # under 1% (about 0.4% expected)
    assert built.size_bytes <= 4 * len(keys) * 2  # 32 bits a key, rounded up to 2**n


@pytest.mark.django_db
def test_the_build_reads_every_key_a_page_at_a_time(cache, monkeypatch):
    monkeypatch.setattr(negative_cache, "PAGE", 3)
    emails = [f"k{i:02d}@example.com" for i in range(10)]
    SuppressedEmail.objects.bulk_create(SuppressedEmail(email=e) for e in emails)
    assert list(negative_cache.all_keys("default")) == emails  # 4 pages, none lost
    bump_generation("default")
    built = cache.rebuild("default")
    assert built is not None
    assert built.possible(emails) == emails


@pytest.mark.django_db
def test_bump_creates_then_replaces_a_random_token():
    assert current_generation("default") is None
    bump_generation("default")
    first = current_generation("default")
    bump_generation("default")
    assert current_generation("default") not in (None, first)
    assert SuppressionGeneration.objects.count() == 1


@pytest.mark.django_db
def test_a_rolled_back_write_takes_its_bump_with_it():
    bump_generation("default")
    before = current_generation("default")
    with transaction.atomic():
        bump_generation("default")
        transaction.set_rollback(True)
    assert current_generation("default") == before


@pytest.mark.django_db
def test_without_a_token_every_key_goes_to_the_database(cache):
    SuppressedEmail.objects.create(email="gone@example.com")
    SuppressionGeneration.objects.all().delete()  # as if no writer ever bumped
    assert cache.rebuild("default") is None  # no token: nothing to build under
    assert answer(cache, ["gone@example.com"]) is None  # the plain lookup of every key


@pytest.mark.django_db
def test_a_current_filter_sends_only_possible_hits_to_the_database(cache):
    SuppressedEmail.objects.create(email="gone@example.com")
    bump_generation("default")
    cache.rebuild("default")
    keys = [f"fine{i}@example.com" for i in range(2000)] + ["gone@example.com"]
    possible = cache.filters["default"].possible(keys)
    assert "gone@example.com" in possible
    assert len(possible) < 30
    assert answer(cache, keys) == {"gone@example.com"}


@pytest.mark.django_db
def test_a_write_with_its_bump_retires_the_filter_at_once(cache):
    bump_generation("default")
    cache.rebuild("default")
    assert answer(cache, ["new@example.com"]) == set()
    SuppressedEmail.objects.create(email="new@example.com")
    bump_generation("default")
    # Stale: the plain lookup of every key (and a rebuild starts in the background).
    assert answer(cache, ["new@example.com"]) is None


@pytest.mark.django_db
@pytest.mark.parametrize("write", ["create", "save", "delete", "queryset delete"])
def test_an_orm_write_without_an_explicit_bump_still_retires_the_filter(cache, write, receivers):
    entry = SuppressedEmail.objects.create(email="row@example.com")
    cache.rebuild("default")
    before = current_generation("default")
    if write == "create":
        SuppressedEmail.objects.create(email="new@example.com")
    elif write == "save":
        entry.reason = "bounced"
        entry.save()
    elif write == "delete":
        entry.delete()
    else:
        SuppressedEmail.objects.filter(pk=entry.pk).delete()
    assert current_generation("default") != before
    assert answer(cache, ["new@example.com"]) is None


@pytest.mark.django_db
def test_a_stale_filter_is_rebuilt_in_the_background(cache):
    SuppressedEmail.objects.create(email="gone@example.com")
    bump_generation("default")
    cache.rebuild("default")
    SuppressedEmail.objects.create(email="later@example.com")
    bump_generation("default")
    token = current_generation("default")
    assert answer(cache, ["x@example.com"]) is None
    cache.rebuild("default")  # what the background thread does (this test's transaction)
    assert cache.filters["default"].token == token
    assert answer(cache, ["later@example.com", "x@example.com"]) == {"later@example.com"}


@pytest.mark.django_db
def test_lookup_asks_only_for_possible_hits_and_reads_the_token_in_the_same_query(
    cache, django_assert_num_queries
):
    SuppressedEmail.objects.create(email="gone@example.com")
    bump_generation("default")
    cache.rebuild("default")
    keys = [f"fine{i}@example.com" for i in range(3000)] + ["gone@example.com"]
    with django_assert_num_queries(1):
        assert cache.lookup(keys, "default", batch=2000) == {"gone@example.com"}


@pytest.mark.django_db
def test_lookup_with_nothing_possible_still_checks_the_token(cache, django_assert_num_queries):
    bump_generation("default")
    cache.rebuild("default")
    with django_assert_num_queries(1):
        assert cache.lookup(["fine@example.com"], "default", batch=2000) == set()


@pytest.mark.django_db
def test_lookup_gives_up_on_a_stale_filter(cache):
    bump_generation("default")
    cache.rebuild("default")
    SuppressedEmail.objects.create(email="new@example.com")
    bump_generation("default")
    assert cache.lookup(["new@example.com"], "default", batch=2000) is None  # plain path
    assert "default" not in cache.filters or cache.filters["default"].token == current_generation(
        "default"
    )


@pytest.mark.django_db
def test_lookup_without_a_filter_uses_the_plain_path_and_builds_one(cache, monkeypatch):
    scheduled = []
    monkeypatch.setattr(cache, "schedule_rebuild", scheduled.append)
    assert cache.lookup(["a@example.com"], "default", batch=2000) is None
    assert scheduled == ["default"]


@pytest.mark.django_db
def test_the_setting_turns_the_cache_off(cache, settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_NEGATIVE_CACHE": False}
    bump_generation("default")
    cache.rebuild("default")
    assert answer(cache, ["a@example.com"]) is None


WRITER = """
import json, os, sys
import django
import tests.settings
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
tests.settings.DATABASES["default"].update(json.loads(sys.argv[2]))
django.setup()
from django.db import transaction
from django_meisa.models import SuppressedEmail
from django_meisa.suppression.negative_cache import bump_generation
with transaction.atomic():
    SuppressedEmail.objects.create(email=sys.argv[1])
    bump_generation("default")
"""


@pytest.mark.django_db(transaction=True)
def test_a_write_in_another_process_is_seen_by_the_next_send_here(cache, tmp_path):
    if "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a database two processes share (a file or a server)")
    bump_generation("default")
    cache.rebuild("default")
    assert answer(cache, ["other@example.com"]) == set()
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    database = {k: connection.settings_dict[k] for k in keys}  # the role's password too
    argv = [sys.executable, "-c", WRITER, "other@example.com", json.dumps(database)]
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert answer(cache, ["other@example.com"]) is None  # at once: the plain lookup
    assert suppressed_keys(["other@example.com"]) == {"other@example.com"}
    deadline = time.monotonic() + 10
    while "default" in cache.building and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.filters["default"].token == current_generation("default")
    assert answer(cache, ["other@example.com"]) == {"other@example.com"}  # and after
