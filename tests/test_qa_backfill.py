"""QA: issue #13 (and #14's who-syncs) through meisa_backfill and the public signals."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_meisa.signals import contact_sync_failed, contact_synced
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db(transaction=True)


def make_user(name: str, **extra: Any) -> Any:
    model = get_user_model()
    fields: dict[str, Any] = {"email": f"{name}@example.com", **extra}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = name
    return model._default_manager.create_user(**fields)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code = error.returncode or 1
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def meisa(**extra: Any) -> override_settings:
    return override_settings(MEISA={**settings.MEISA, "SYNC_ON_SAVE": False, **extra})


def broken(user: Any) -> Any:
    if user.email.startswith("bad"):
        raise ValueError("boom")
    return "pro"


@pytest.fixture
def signals():
    seen: dict[str, list[dict[str, Any]]] = {"synced": [], "failed": []}

    def on_synced(sender, **kwargs):
        seen["synced"].append(kwargs)

    def on_failed(sender, **kwargs):
        seen["failed"].append(kwargs)

    contact_synced.connect(on_synced)
    contact_sync_failed.connect(on_failed)
    yield seen
    contact_synced.disconnect(on_synced)
    contact_sync_failed.disconnect(on_failed)


def test_backfill_inline_sends_everyone_eligible_once():
    with meisa(SYNC_USERS_FILTER={"is_staff": False}):
        make_user("ada")
        make_user("bob")
        make_user("root", is_staff=True)
        with fake_meisa() as fake:
            code, _out, err = run("meisa_backfill", "--inline")
            code2, _out2, _err2 = run("meisa_backfill", "--inline")
    assert code == 0, err
    assert code2 == 0
    assert sorted(u["email"] for u in fake.upserts) == ["ada@example.com", "bob@example.com"]
    assert {u["source"] for u in fake.upserts} == {"initial_sync"}


def test_backfill_should_sync_user_callable_applied():
    with meisa(SHOULD_SYNC_USER="tests.test_qa_backfill.not_bob"):
        make_user("ada")
        make_user("bob")
        with fake_meisa() as fake:
            run("meisa_backfill", "--inline")
    assert [u["email"] for u in fake.upserts] == ["ada@example.com"]


def not_bob(user: Any) -> bool:
    return not user.email.startswith("bob")


def test_backfill_counts_users_should_sync_user_leaves_out_as_ineligible():
    from django_meisa.backfill.checkpoint import run_counts
    from django_meisa.models import BackfillRun

    with meisa(SHOULD_SYNC_USER="tests.test_qa_backfill.not_bob"):
        make_user("ada")
        make_user("bob")
        with fake_meisa():
            code, out, err = run("meisa_backfill", "--inline")
    assert code == 0, err
    assert f"{'Ineligible, skipped:':<32}1" in out
    assert f"{'Unchanged, skipped:':<32}0" in out
    counts = run_counts(BackfillRun.objects.get())
    assert (counts.synced, counts.ineligible, counts.unchanged) == (1, 1, 0)


def test_backfill_mapper_failure_sends_contact_sync_failed(signals):
    with meisa(CUSTOM_FIELDS={"plan": "tests.test_qa_backfill.broken"}):
        make_user("ada")
        bad = make_user("bad")
        with fake_meisa() as fake:
            code, out, err = run("meisa_backfill", "--inline")
    assert code != 0
    assert [u["email"] for u in fake.upserts] == ["ada@example.com"]
    failed = [e for e in signals["failed"] if str(e["user_pk"]) == str(bad.pk)]
    assert failed, signals
    assert failed[0]["retryable"] is False
    assert "Traceback" not in out + err


def test_backfill_dry_run_show_prints_json_and_sends_nothing():
    with meisa():
        make_user("ada")
        with fake_meisa() as fake:
            code, out, err = run("meisa_backfill", "--dry-run", "--show", "5")
    assert code == 0, err
    assert fake.upserts == []
    assert "ada@example.com" in out
    assert '"source": "initial_sync"' in out or '"initial_sync"' in out


def test_backfill_after_500s_reports_failure_exit_status():
    with meisa():
        make_user("ada")
        with fake_meisa() as fake:
            fake.inject_fault("server_error", times=50)
            code, _out, _err = run("meisa_backfill", "--inline", "--retries", "1")
    assert code != 0


def test_sync_contact_now_upserts_at_most_three_times(monkeypatch):
    from django_meisa import sync_contact_now

    with meisa():
        user = make_user("ada")
        with fake_meisa() as fake:
            sync_contact_now(user.pk, force=True)
    assert 1 <= len(fake.upserts) <= 3


def test_preview_json_matches_what_is_sent():
    from django_meisa import sync_contact_now

    with meisa(CUSTOM_FIELDS={"plan": "tests.test_qa_backfill.broken"}):
        user = make_user("ada")
        with fake_meisa() as fake:
            _code, out, _err = run("meisa_sync", "--preview", str(user.pk))
            sync_contact_now(user.pk, force=True)
    previewed = json.loads(out.split("\n", 1)[1])
    assert fake.upserts[-1] == previewed
