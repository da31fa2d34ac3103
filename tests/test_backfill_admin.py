"""The read-only backfill run admin: totals, unfinished chunks, failed users."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.urls import reverse

from django_meisa.models import BackfillRun
from tests.backfill_support import backfill, make_users

pytestmark = pytest.mark.django_db


def test_the_run_page_shows_totals_and_failures_without_personal_data(admin_client, meisa_fake):
    make_users(4)
    meisa_fake.inject_fault("server_error", status=422)
    with pytest.raises(CommandError):
        backfill("--concurrency", "1")
    run = BackfillRun.objects.get()

    changelist = admin_client.get(reverse("admin:django_meisa_backfillrun_changelist"))
    page = admin_client.get(reverse("admin:django_meisa_backfillrun_change", args=[run.pk]))

    assert changelist.status_code == 200
    assert page.status_code == 200
    text = page.content.decode()
    users = get_user_model().objects.count()  # admin_client's admin is a user too
    assert f"synced: {users - 1}" in text
    assert "failed: 1" in text
    assert "MeisaRequestError" in text
    assert "user0@example.com" not in text
    assert "meisa_test_key" not in text


def test_runs_cannot_be_added_or_changed(admin_client):
    assert admin_client.get(reverse("admin:django_meisa_backfillrun_add")).status_code == 403
