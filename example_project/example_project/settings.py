"""Settings for the example site: everything from the environment, with working defaults.

With no environment at all it runs on SQLite, with Celery eager and the local Meisa
(``python -m django_meisa.testing.server``) on 127.0.0.1:8765. Every variable is listed
in docs/howto/example-project.md.
"""

import os
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    """Return the environment variable ``name``, or ``default`` when unset or empty."""
    return os.environ.get(name) or default


def env_bool(name, default=False):
    """Return the environment variable ``name`` read as a yes/no flag."""
    value = os.environ.get(name)
    return default if not value else value.lower() in {"1", "true", "yes", "on"}


def database_from_url(url):
    """Return a DATABASES entry for a database URL, as dj-database-url spells them.

    ``sqlite:////absolute/path.db``, ``sqlite:///relative.db``, ``sqlite://`` (in memory),
    ``postgres://user:password@host:5432/name``, ``mysql://user:password@host:3306/name``.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # Drop the one slash that separates the (empty) host from the path.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) or ":memory:",
        }
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
        }
    if parts.scheme in {"mysql", "mariadb"}:
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (sqlite, postgres or mysql)"
    )


SECRET_KEY = env("DJANGO_SECRET_KEY", "example-project-not-secret-change-me")
DEBUG = env_bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The site's apps come before django_meisa, so that their user_logged_in receiver
    # (which counts sign-ins) runs before django-meisa's.
    "accounts",
    "billing",
    "django_meisa",
]
# django-meisa's health checks (/ht/) when the optional "health" extra is installed.
if find_spec("health_check") is not None:
    INSTALLED_APPS.append("health_check")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": database_from_url(env("DATABASE_URL", f"sqlite:///{BASE_DIR}/db.sqlite3"))}
# One transaction per request: a login's last_login save, the sign-in count and
# django-meisa's receivers all commit together, so Meisa gets one upsert per login.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

# Celery: eager (tasks run inline, no broker) unless CELERY_BROKER_URL is set.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not env("CELERY_BROKER_URL"))
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or None
CELERY_TIMEZONE = TIME_ZONE

# Email: every message goes through django-meisa's suppression wrapper. The real backend
# behind it prints to the console, or speaks SMTP when EMAIL_HOST is set.
EMAIL_BACKEND = "django_meisa.backends.SuppressionEmailBackend"
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Example <hello@example.com>")
_DELIVERY_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if env("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend"
)

MEISA = {
    # The local Meisa by default; set both variables to use your real Meisa account.
    "API_KEY": env("MEISA_API_KEY", "meisa_test_key"),
    "BASE_URL": env("MEISA_BASE_URL", "http://127.0.0.1:8765/api/v1"),
    # Meisa custom field -> attribute path on the user. The production example of
    # Meisa's docs, field for field; datetimes are sent as ISO 8601 in UTC.
    "CUSTOM_FIELDS": {
        "plan": "plan",
        "billing_cycle": "billing_cycle",
        "signup_date": "date_joined",
        "last_active": "last_login",
        "signin_count": "signin_count",
        "onboarding_completed": "onboarding_completed",
        "country": "country",
        "job_title": "job_title",
        "ideas_generated": "ideas_generated",
        "posts_generated": "posts_generated",
        "referral_source": "referral_source",
    },
    "TAG_NAMES": "accounts.meisa.tag_names",
    # A plan change (upgrade, downgrade, churn) saves the Subscription: sync its user.
    "SYNC_TRIGGERS": {"billing.Subscription": "user"},
    # Who is synced, on every path (saves, logins, triggers, the sweep, the admin, the
    # backfill): staff and deactivated accounts stay out of Meisa.
    "SYNC_USERS_FILTER": {"is_active": True, "is_staff": False},
    # A deleted account gets one last upsert adding this tag, for a Meisa automation
    # (Meisa has no delete endpoint: see docs/howto/operations.md).
    "DELETED_USER_TAG": "account-deleted",
    "EMAIL_BACKEND": env("MEISA_DELIVERY_BACKEND", _DELIVERY_BACKEND),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_meisa": {"handlers": ["console"], "level": env("MEISA_LOG_LEVEL", "INFO")}},
}
