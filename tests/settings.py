"""Settings for django-meisa's own test suite."""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "django-meisa-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The browser tests serve the admin (with its CSS) from a live server.
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tests.testapp",
    "django_meisa",
]

# MEISA_TEST_USER_MODEL swaps in a custom user model before anything migrates: "uuid"
# (AbstractUser keyed by a UUID) or "email" (UUID primary key named uid, email as
# USERNAME_FIELD, no name fields). Unset: Django's own User.
USER_MODELS = {
    "uuid": ("tests.users_uuid", "users_uuid.UUIDUser"),
    "email": ("tests.users_email", "users_email.EmailUser"),
}
if USER_MODEL := os.environ.get("MEISA_TEST_USER_MODEL", ""):
    user_app, AUTH_USER_MODEL = USER_MODELS[USER_MODEL]
    INSTALLED_APPS.insert(INSTALLED_APPS.index("tests.testapp"), user_app)

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# MEISA_TEST_DATABASE picks the database: sqlite (the default), postgres or mariadb (the
# local servers). Give each concurrent run its own NAME (MEISA_TEST_PG_NAME,
# MEISA_TEST_MYSQL_NAME): the test database is test_<NAME>, plus _gwN per xdist worker.
# MEISA_TEST_DB_ROLE=<role> then runs the suite as a DML-only role (tests/db_roles.py).
DATABASE_VENDOR = os.environ.get("MEISA_TEST_DATABASE", "sqlite").lower()
DATABASES: dict[str, dict[str, Any]]
if DATABASE_VENDOR == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("MEISA_TEST_PG_NAME", "django_meisa"),
            "USER": os.environ.get("MEISA_TEST_PG_USER", "postgres"),
            "HOST": os.environ.get("MEISA_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MEISA_TEST_PG_PORT", "5432"),
        }
    }
elif DATABASE_VENDOR in {"mariadb", "mysql"}:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("MEISA_TEST_MYSQL_NAME", "django_meisa"),
            "USER": os.environ.get("MEISA_TEST_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MEISA_TEST_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("MEISA_TEST_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MEISA_TEST_MYSQL_PORT", "3306"),
            # The server's default collation (case-insensitive) and charset utf8mb4.
            # Django's default isolation is READ COMMITTED; MEISA_TEST_MYSQL_ISOLATION
            # ("repeatable read") runs the suite as sites that keep InnoDB's default do.
            "OPTIONS": {
                "charset": "utf8mb4",
                "isolation_level": os.environ.get("MEISA_TEST_MYSQL_ISOLATION", "read committed"),
            },
            "TEST": {"CHARSET": "utf8mb4"},
        }
    }
elif DATABASE_VENDOR == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
else:
    raise ValueError(f"MEISA_TEST_DATABASE={DATABASE_VENDOR!r}: use sqlite, postgres or mariadb")
# A second alias, used only by tests/test_sync_databases.py (which marks it): a replica
# left stale on purpose, with a router sending reads there, proving that the sync reads
# and writes the primary.
DATABASES["stale_replica"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False

MEISA = {
    "API_KEY": "meisa_test_key",
    "BASE_URL": "https://api.meisa.io/api/v1",
    # Publish on the request thread, so tests see the task as soon as the commit returns
    # (the publisher's own tests switch to "background").
    "PUBLISH_MODE": "inline",
}
