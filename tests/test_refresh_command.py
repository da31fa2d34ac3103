"""The meisa_refresh_suppressions command and the refresh task."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from django_meisa.models import SuppressedEmail
from django_meisa.suppression.lock import acquire_lease, release_lease
from django_meisa.tasks import refresh_suppressed_emails, suppression_beat_schedule

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("meisa_refresh_suppressions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_counts(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com", "b@x.com")
    out, _ = run()
    assert "added 2, confirmed 0, removed 0, withheld 0" in out
    meisa_fake.remove_unsubscribed("a@x.com")
    out, _ = run()
    assert "added 0, confirmed 1, removed 1, withheld 0" in out


def test_withheld_deletions_are_reported_and_force_applies_them(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com", "b@x.com")
    run()
    meisa_fake.remove_unsubscribed("a@x.com", "b@x.com")
    out, err = run()
    assert "withheld 2" in out
    assert "--force" in err
    assert SuppressedEmail.objects.count() == 2
    out, _ = run("--force")
    assert "removed 2, withheld 0" in out
    assert SuppressedEmail.objects.count() == 0


def test_failure_raises_command_error_and_changes_nothing(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com")
    run()
    meisa_fake.inject_fault("server_error")
    with pytest.raises(CommandError, match="failed"):
        run()
    assert SuppressedEmail.objects.count() == 1


def test_held_lock_is_a_failure_for_the_command(meisa_fake):
    assert acquire_lease("other")
    try:
        with pytest.raises(CommandError, match="holds the lock"):
            run()
    finally:
        release_lease("other")


def test_exit_status_is_non_zero_on_failure():
    # A real process whose Meisa is a closed local port, so the download fails.
    code = (
        "import django, os, sys;"
        "os.environ['DJANGO_SETTINGS_MODULE']='tests.settings';"
        "django.setup();"
        "from django.conf import settings;"
        "settings.MEISA = {**settings.MEISA, 'BASE_URL': 'http://127.0.0.1:9'};"
        "from django.core.management import call_command, execute_from_command_line;"
        "call_command('migrate', run_syncdb=True, verbosity=0);"
        "execute_from_command_line(['manage.py', 'meisa_refresh_suppressions'])"
    )
    env = {"MEISA_TEST_DATABASE": "sqlite", "PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    assert "Suppression refresh failed" in done.stderr
    assert "meisa_test_key" not in done.stderr + done.stdout


def test_task_returns_the_counts(meisa_fake):
    meisa_fake.add_unsubscribed("a@x.com")
    result = refresh_suppressed_emails.apply().get()
    assert result["added"] == 1
    assert result["error"] is None


def test_task_failure_returns_the_error_without_raising(meisa_fake):
    meisa_fake.inject_fault("timeout")
    result = refresh_suppressed_emails.apply().get()
    assert result["error"]


def test_beat_entry_follows_the_interval_setting(settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_REFRESH_INTERVAL": 60}
    entry = suppression_beat_schedule()["meisa-refresh-suppressed-emails"]
    assert entry["task"] == "django_meisa.tasks.refresh_suppressed_emails"
    assert entry["schedule"] == 60
    assert entry["options"]["expires"] == 60


def test_disabled_meisa_skips_the_refresh_without_a_request(meisa_fake, settings):
    settings.MEISA = {**settings.MEISA, "ENABLED": False}
    meisa_fake.add_unsubscribed("a@x.com")
    with pytest.raises(CommandError, match="ENABLED"):
        run()
    assert not meisa_fake.requests
    assert not SuppressedEmail.objects.exists()
