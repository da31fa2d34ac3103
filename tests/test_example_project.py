"""The example project: its settings from the environment, its site, its Celery app, its demo.

The site runs under its own settings (a custom user model), so those tests drive it in
a subprocess, against the fake Meisa's ``responses`` door or, for the demo, the HTTP door.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
ENV_NAMES = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "MEISA_API_KEY",
    "MEISA_BASE_URL",
    "MEISA_DELIVERY_BACKEND",
    "EMAIL_HOST",
    "DJANGO_SETTINGS_MODULE",
)
PRODUCTION_FIELDS = {
    "plan", "billing_cycle", "signup_date", "last_active", "signin_count",
    "onboarding_completed", "country", "job_title", "ideas_generated", "posts_generated",
    "referral_source",
}  # fmt: skip


@pytest.fixture
def load_settings(monkeypatch):
    def load(**env):
        for name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(EXAMPLE / "example_project" / "settings.py"))

    return load


def site_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(DATABASE_URL="sqlite://", **extra)
    return env


def test_defaults_need_no_environment(load_settings):
    settings = load_settings()
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["ATOMIC_REQUESTS"] is True
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True
    assert settings["MEISA"]["BASE_URL"] == "http://127.0.0.1:8765/api/v1"
    assert settings["MEISA"]["API_KEY"] == "meisa_test_key"
    assert settings["EMAIL_BACKEND"] == "django_meisa.backends.SuppressionEmailBackend"
    assert settings["MEISA"]["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_environment_selects_postgres_a_broker_real_meisa_and_smtp(load_settings):
    settings = load_settings(
        DATABASE_URL="postgres://app:p%40ss@db.internal:5433/site",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        MEISA_API_KEY="meisa_live_abc",
        MEISA_BASE_URL="https://api.meisa.io/api/v1",
        EMAIL_HOST="smtp.example.com",
    )
    database = settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("site", "app", "p@ss")
    assert (database["HOST"], database["PORT"]) == ("db.internal", "5433")
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is False
    assert settings["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["MEISA"]["API_KEY"] == "meisa_live_abc"
    assert settings["MEISA"]["BASE_URL"] == "https://api.meisa.io/api/v1"
    assert settings["MEISA"]["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////var/lib/site.db", "/var/lib/site.db"),
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_urls(load_settings, url, name):
    assert load_settings(DATABASE_URL=url)["DATABASES"]["default"]["NAME"] == name


def test_an_unknown_database_scheme_is_refused(load_settings):
    with pytest.raises(ValueError, match="DATABASE_URL"):
        load_settings(DATABASE_URL="oracle://localhost/site")


def test_the_mapper_is_meisas_production_example(load_settings):
    meisa = load_settings()["MEISA"]
    assert set(meisa["CUSTOM_FIELDS"]) == PRODUCTION_FIELDS
    assert meisa["SYNC_TRIGGERS"] == {"billing.Subscription": "user"}
    assert meisa["TAG_NAMES"] == "accounts.meisa.tag_names"


def manage(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=site_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_system_checks_pass_and_migrations_are_complete():
    checked = manage("check")
    assert checked.returncode == 0, checked.stderr
    missing = manage("makemigrations", "accounts", "billing", "--check", "--dry-run")
    assert missing.returncode == 0, missing.stdout + missing.stderr


SITE_SCRIPT = """
import json
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django_meisa.testing import fake_meisa
from example_project.celery import app

call_command("migrate", verbosity=0)
result = {}
with fake_meisa() as meisa:
    web = Client(HTTP_HOST="localhost")
    web.post("/signup/", {"username": "ada", "email": "ada@example.com", "country": "PK",
                          "password1": "pw-123456-xyz", "password2": "pw-123456-xyz"})
    result["signup"] = meisa.upserts
    web.post("/logout/")
    web.post("/login/", {"username": "ada", "password": "pw-123456-xyz"})
    result["login"] = meisa.upserts[len(result["signup"]):]
    mark = len(meisa.upserts)
    web.post("/plan/", {"plan": "pro", "billing_cycle": "annual"})
    web.post("/activity/idea/")
    web.post("/plan/", {"plan": "free"})
    result["later"] = meisa.upserts[mark:]
    meisa.unsubscribe("gone@example.com")
    try:
        call_command("meisa_refresh_suppressions", verbosity=0)
        mail.outbox = []
        web.post("/email/", {"to": "gone@example.com"})
        web.post("/email/", {"to": "ada@example.com"})
        result["sent_to"] = [m.to for m in mail.outbox]
    except Exception as err:
        result["sent_to"] = repr(err)
app.loader.import_default_modules()
result["beat"] = sorted(e["task"] for e in app.conf.beat_schedule.values())
result["tasks"] = sorted(app.tasks)
print("RESULT" + json.dumps(result))
"""


@pytest.fixture(scope="module")
def site_run():
    env = site_env(MEISA_DELIVERY_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SITE_SCRIPT],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, run.stdout + run.stderr
    return json.loads(lines[-1][len("RESULT") :])


def test_signup_sends_one_signup_upsert_with_every_field(site_run):
    [upsert] = site_run["signup"]
    assert upsert["source"] == "signup"
    assert set(upsert["custom_fields"]) == PRODUCTION_FIELDS
    assert upsert["custom_fields"]["signin_count"] == 1
    assert upsert["custom_fields"]["country"] == "PK"
    assert upsert["custom_fields"]["signup_date"].endswith("Z")


def test_login_sends_exactly_one_upsert_with_the_new_count(site_run):
    [upsert] = site_run["login"]
    assert upsert["custom_fields"]["signin_count"] == 2
    assert upsert["custom_fields"]["last_active"].endswith("Z")


def test_plan_changes_and_activity_reach_meisa(site_run):
    upgrade, idea, churn = site_run["later"]
    assert upgrade["custom_fields"]["plan"] == "pro"
    assert upgrade["custom_fields"]["billing_cycle"] == "annual"
    assert upgrade["tag_names"] == ["paying-customer"]
    assert idea["custom_fields"]["ideas_generated"] == 1
    assert churn["custom_fields"]["plan"] == "free"
    assert churn["custom_fields"]["billing_cycle"] is None
    assert churn["tag_names"] == []


def test_the_test_email_page_skips_suppressed_addresses(site_run):
    assert site_run["sent_to"] == [["ada@example.com"]]


def test_celery_app_schedules_django_meisas_periodic_tasks(site_run):
    assert site_run["beat"] == [
        "django_meisa.tasks.refresh_suppressed_emails",
        "django_meisa.tasks.sweep_pending_syncs",
    ]
    assert set(site_run["beat"]) <= set(site_run["tasks"])


def test_the_demo_runs_green_end_to_end(tmp_path):
    db = tmp_path / "demo.sqlite3"
    run = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py"), "--meisa-port", "0", "--db", str(db)],
        env=site_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Every check passed" in run.stdout
    assert "✗" not in run.stdout
    assert re.search(r"\[local Meisa\] [\d:.]+ POST +/api/v1/contacts/upsert/ -> 200", run.stdout)
