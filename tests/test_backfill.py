"""meisa_backfill against the fake Meisa: one upsert per user, state, skips, failures."""

from __future__ import annotations

import csv

import pytest
from django.core.management import CommandError
from django.test import override_settings

from django_meisa import conf
from django_meisa.models import BackfillRun, MeisaSyncResult, UserSyncState
from tests.backfill_support import assert_each_once, backfill, make_users, upsert_counts

pytestmark = pytest.mark.django_db


def test_every_user_is_upserted_once_with_source_initial_sync(meisa_fake):
    users = make_users(23)

    output = backfill("--chunk-size", "5")

    assert_each_once(meisa_fake, users)
    assert "Synced:                         23" in output
    assert BackfillRun.objects.get().status == BackfillRun.Status.FINISHED


def test_the_result_is_recorded_in_each_users_sync_state(meisa_fake):
    users = make_users(3)

    backfill()

    for user in users:
        state = UserSyncState.objects.get(user=user)
        contact = meisa_fake.contact(external_id=str(user.pk))
        assert state.last_result == MeisaSyncResult.SYNCED
        assert state.contact_id == contact["id"]
        assert state.meisa_status == "active"
        assert state.payload_fingerprint
        assert state.last_synced_at is not None
        assert state.lease_token == ""
        assert state.lease_until is None


def test_the_payload_is_the_mappers_payload(meisa_fake):
    (user,) = make_users(1, first_name="Ada", last_name="Lovelace")
    custom = {"joined": "date_joined", "plan": "profile.plan"}
    with override_settings(MEISA={**conf.user_settings(), "CUSTOM_FIELDS": custom}):
        backfill()

    (body,) = meisa_fake.upserts
    assert body["email"] == user.email
    assert body["external_id"] == str(user.pk)
    assert body["first_name"] == "Ada"
    assert body["last_name"] == "Lovelace"
    assert body["custom_fields"]["plan"] is None  # no profile yet: null, not a crash
    assert body["custom_fields"]["joined"].endswith("Z")


def test_a_second_run_skips_unchanged_users_and_force_sends_them(meisa_fake):
    users = make_users(4)
    backfill()

    output = backfill()
    assert len(meisa_fake.upserts) == 4
    assert "Unchanged, skipped:             4" in output

    backfill("--force")
    assert upsert_counts(meisa_fake) == {str(u.pk): 2 for u in users}


def test_a_changed_user_is_sent_again(meisa_fake):
    users = make_users(3)
    backfill()
    users[1].first_name = "Grace"
    users[1].save()

    backfill()

    assert [b["external_id"] for b in meisa_fake.upserts[3:]] == [str(users[1].pk)]


def test_users_without_email_are_skipped_and_counted(meisa_fake):
    make_users(2)
    make_users(1, start=5, email="")

    output = backfill()

    assert len(meisa_fake.upserts) == 2
    assert "No email, skipped:              1" in output


def test_inactive_users_are_included_unless_excluded(meisa_fake):
    make_users(2)
    inactive = make_users(1, start=9, is_active=False)[-1]

    backfill("--exclude-inactive")
    assert str(inactive.pk) not in upsert_counts(meisa_fake)

    backfill()
    assert upsert_counts(meisa_fake)[str(inactive.pk)] == 1


def test_dry_run_sends_nothing_and_writes_no_state(meisa_fake):
    make_users(6)

    output = backfill("--dry-run", "-v", "2")

    assert meisa_fake.requests == []
    assert not UserSyncState.objects.exists()
    assert "Would sync:                     6" in output
    assert "would send an upsert" in output


def test_dry_run_reports_mapper_failures(meisa_fake, tmp_path):
    make_users(2)
    path = tmp_path / "failed.csv"
    custom = {"broken": "tests.backfill_support.no_such_function"}
    with (
        override_settings(MEISA={**conf.user_settings(), "CUSTOM_FIELDS": custom}),
        pytest.raises(CommandError, match="2 users failed"),
    ):
        backfill("--dry-run", "--failures-csv", str(path))
    assert meisa_fake.requests == []
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["user_pk", "reason"]
    assert len(rows) == 3


def test_validation_failures_are_counted_and_listed_in_the_csv(meisa_fake, tmp_path):
    users = make_users(5)
    meisa_fake.inject_fault("server_error", times=2, status=422)
    path = tmp_path / "failures.csv"

    with pytest.raises(CommandError, match="2 users failed") as excinfo:
        backfill("--concurrency", "1", "--failures-csv", str(path))

    assert excinfo.value.returncode == 1
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["user_pk", "reason"]
    assert len(rows) == 3
    assert all("MeisaRequestError" in reason and "422" in reason for _, reason in rows[1:])
    failed = {pk for pk, _ in rows[1:]}
    assert failed == {str(u.pk) for u in users[:2]}
    # 4xx are not retried: 2 refused requests, 3 accepted.
    assert len(meisa_fake.requests) == 5
    for pk in failed:
        assert UserSyncState.objects.get(user_id=pk).last_result == MeisaSyncResult.FAILED_PERMANENT


def test_the_csv_holds_no_personal_data(meisa_fake, tmp_path):
    make_users(1)
    meisa_fake.inject_fault("server_error", status=400)
    path = tmp_path / "failures.csv"
    with pytest.raises(CommandError):
        backfill("--failures-csv", str(path))
    text = path.read_text()
    assert "@example.com" not in text
    assert "user0" not in text
    assert conf.get_setting("API_KEY") not in text


def test_a_bad_api_key_stops_the_run_instead_of_failing_every_user(meisa_fake):
    make_users(30)
    with (
        override_settings(MEISA={**conf.user_settings(), "API_KEY": "wrong"}),
        pytest.raises(CommandError, match="--resume") as excinfo,
    ):
        backfill("--chunk-size", "5")
    assert excinfo.value.returncode == 130
    run = BackfillRun.objects.get()
    assert run.status == BackfillRun.Status.INTERRUPTED
    assert "MeisaAuthError" in run.error
    assert "wrong" not in run.error
    assert len(meisa_fake.requests) < 30

    backfill("--resume")
    assert len(meisa_fake.upserts) == 30


def test_disabled_django_meisa_refuses_to_send(meisa_fake):
    make_users(1)
    with (
        override_settings(MEISA={**conf.user_settings(), "ENABLED": False}),
        pytest.raises(CommandError, match="ENABLED"),
    ):
        backfill()
    assert meisa_fake.requests == []


def test_a_backfill_upsert_answers_a_pending_login(meisa_fake):
    (user,) = make_users(1)
    UserSyncState.objects.create(user=user, version=1, login_pending=True)

    backfill()

    state = UserSyncState.objects.get(user=user)
    assert len(meisa_fake.upserts) == 1
    assert state.login_pending is False
    assert state.synced_version == 1
