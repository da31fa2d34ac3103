"""Which users meisa_backfill selects: --ids, --ids-file, --since, --only-unsynced, ..."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_meisa import conf
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    changed_since_q,
    read_ids_file,
    select_related_paths,
    selection_chunks,
)
from django_meisa.models import SuppressedEmail, UserSyncState
from tests.backfill_support import backfill, make_users, upsert_counts
from tests.sync_support import PRODUCTION_FIELDS
from tests.testapp.models import Profile

pytestmark = pytest.mark.django_db


def test_ids_selects_only_those_users(meisa_fake):
    users = make_users(6)
    backfill("--ids", f"{users[1].pk},{users[4].pk}")
    assert upsert_counts(meisa_fake) == {str(users[1].pk): 1, str(users[4].pk): 1}


def test_ids_file_selects_only_those_users(meisa_fake, tmp_path):
    users = make_users(6)
    path = tmp_path / "ids.txt"
    path.write_text(f"# users to resend\n{users[0].pk}\n{users[5].pk}, {users[2].pk}\n")
    backfill("--ids-file", str(path), "--chunk-size", "2")
    assert set(upsert_counts(meisa_fake)) == {str(users[i].pk) for i in (0, 2, 5)}


def test_ids_and_ids_file_together_are_refused(meisa_fake, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("1\n")
    with pytest.raises(CommandError, match="not both"):
        backfill("--ids", "1", "--ids-file", str(path))


def test_bad_ids_are_a_command_error(meisa_fake):
    with pytest.raises(CommandError, match="primary key"):
        backfill("--ids", "1,banana")


def test_read_ids_file_accepts_lines_commas_and_comments(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("1\n2, 3 # three\n\n# none\n4")
    assert read_ids_file(str(path)) == ["1", "2", "3", "4"]


def _joined_long_ago(users):
    # A queryset update: no post_save, so no sync is requested (that would be a change).
    month_ago = timezone.now() - dt.timedelta(days=30)
    get_user_model().objects.filter(pk__in=[u.pk for u in users]).update(date_joined=month_ago)


def test_since_selects_users_joined_since(meisa_fake):
    old, new = make_users(2)
    _joined_long_ago([old])
    backfill("--since", (timezone.now() - dt.timedelta(days=1)).date().isoformat())
    assert upsert_counts(meisa_fake) == {str(new.pk): 1}


def test_since_selects_users_changed_since(meisa_fake):
    users = make_users(3)
    _joined_long_ago(users)
    # A sync was requested recently for users[0] (a save); users[1] logged in.
    UserSyncState.objects.create(user=users[0], requested_at=timezone.now())
    get_user_model().objects.filter(pk=users[1].pk).update(last_login=timezone.now())

    backfill("--since", (timezone.now() - dt.timedelta(hours=1)).isoformat())

    assert set(upsert_counts(meisa_fake)) == {str(users[0].pk), str(users[1].pk)}


def test_since_honours_the_configured_changed_field():
    since = timezone.now()
    settings = {**conf.user_settings(), "BACKFILL_CHANGED_FIELD": "profile__updated"}
    with override_settings(MEISA=settings):
        assert ("profile__updated__gte", since) in changed_since_q(since).children
    assert ("profile__updated__gte", since) not in changed_since_q(since).children


def test_since_rejects_a_non_date(meisa_fake):
    with pytest.raises(CommandError, match="not a date"):
        backfill("--since", "yesterday")


def test_only_unsynced_skips_users_synced_before(meisa_fake):
    users = make_users(4)
    backfill("--ids", str(users[0].pk))
    UserSyncState.objects.create(user=users[1])  # requested, never synced

    backfill("--only-unsynced", "--force")

    assert upsert_counts(meisa_fake) == {str(u.pk): 1 for u in users}


def test_exclude_suppressed_skips_suppressed_addresses(meisa_fake):
    users = make_users(3)
    SuppressedEmail.objects.create(email="user1@example.com")

    output = backfill("--exclude-suppressed")

    assert set(upsert_counts(meisa_fake)) == {str(users[0].pk), str(users[2].pk)}
    assert "Suppressed, skipped:            1" in output


def test_suppressed_users_are_synced_by_default(meisa_fake):
    make_users(2)
    SuppressedEmail.objects.create(email="user1@example.com")
    backfill()
    assert len(meisa_fake.upserts) == 2


def test_keyset_chunks_cover_every_user_once_in_order():
    users = make_users(11)
    chunks = list(selection_chunks(MeisaBackfillSelection(), 4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert [pk for c in chunks for pk in c] == [u.pk for u in users]
    after = list(selection_chunks(MeisaBackfillSelection(), 4, after=users[8].pk))
    assert after == [[users[9].pk, users[10].pk]]


def test_select_related_is_derived_from_custom_fields():
    with override_settings(MEISA={**conf.user_settings(), "CUSTOM_FIELDS": PRODUCTION_FIELDS}):
        assert select_related_paths() == ["profile"]
    with override_settings(MEISA={**conf.user_settings(), "BACKFILL_SELECT_RELATED": ["x"]}):
        assert select_related_paths() == ["x"]


def test_queries_per_chunk_do_not_grow_with_the_chunk(meisa_fake):
    users = make_users(60)
    Profile.objects.bulk_create(Profile(user=u, plan="pro") for u in users)
    settings = {**conf.user_settings(), "CUSTOM_FIELDS": PRODUCTION_FIELDS}

    def queries(chunk_size: int) -> int:
        UserSyncState.objects.all().delete()
        with (
            override_settings(MEISA=settings),
            # Results are also flushed every 50 ms while sending: not per user, but timing.
            mock.patch("django_meisa.backfill.rounds.FLUSH_INTERVAL", 3600),
            CaptureQueriesContext(connection) as ctx,
        ):
            backfill("--chunk-size", str(chunk_size), "--force")
        return len(ctx.captured_queries)

    per_chunk = queries(60)
    assert per_chunk < 40  # a handful per chunk, never several per user
    assert queries(30) < 2 * per_chunk + 5
    assert {b["custom_fields"]["plan"] for b in meisa_fake.upserts} == {"pro"}
