"""Django settings for the benchmarks: PostgreSQL, a real Redis broker, the local fake Meisa."""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "django-meisa-benchmarks-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_meisa",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# MEISA_BENCH_DB=sqlite runs against a SQLite file (the suppression benchmark's "for the
# record" figure), MEISA_BENCH_DB=mariadb against the local MariaDB; PostgreSQL otherwise,
# in a database of our own.
DATABASES: dict[str, dict[str, Any]]
if os.environ.get("MEISA_BENCH_DB") == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("MEISA_BENCH_SQLITE", "/tmp/meisa_bench.sqlite3"),  # noqa: S108
        }
    }
elif os.environ.get("MEISA_BENCH_DB") == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("MEISA_BENCH_MYSQL_NAME", "meisa_bench"),
            "USER": os.environ.get("MEISA_BENCH_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MEISA_BENCH_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("MEISA_BENCH_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MEISA_BENCH_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("MEISA_BENCH_PG_NAME", "meisa_bench"),
            "USER": os.environ.get("MEISA_BENCH_PG_USER", "postgres"),
            "HOST": os.environ.get("MEISA_BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MEISA_BENCH_PG_PORT", "5432"),
        }
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A Redis database number of our own, so we never touch anyone else's queues.
CELERY_BROKER_URL = os.environ.get("MEISA_BENCH_BROKER", "redis://127.0.0.1:6379/13")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

MEISA = {
    "API_KEY": "meisa_test_key",
    "BASE_URL": os.environ.get("MEISA_BENCH_BASE_URL", "http://127.0.0.1:8799/api/v1"),
    "ENABLED": os.environ.get("MEISA_BENCH_ENABLED", "1") == "1",
    # A realistic mapping: names, dates, a few plain attributes of the user.
    "CUSTOM_FIELDS": {
        "signup_date": "date_joined",
        "last_active": "last_login",
        "username": "username",
        "is_active": "is_active",
    },
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}
