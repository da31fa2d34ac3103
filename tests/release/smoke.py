"""Smoke test of an installed django-meisa wheel: ``make release-check`` runs it in a clean venv.

Run from outside the source tree, so ``import django_meisa`` can only find the installed
wheel. Proves that the templates, the migrations and ``py.typed`` were packaged, then
migrates, runs the system checks and syncs one user to a local Meisa over HTTP.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import sys
import tempfile
from pathlib import Path

PACKAGED = (
    "py.typed",
    "migrations/0001_initial.py",
    "templates/admin/django_meisa/suppressedemail/change_list.html",
    "templates/admin/django_meisa/suppressedemail/check_address.html",
    "templates/admin/django_meisa/usersyncstate/change_form.html",
)


def check_installed_files() -> Path:
    """Fail unless django_meisa comes from site-packages with its data files inside."""
    import django_meisa

    package = Path(django_meisa.__file__).resolve().parent
    assert "site-packages" in package.parts, f"imported from {package}, not the wheel"
    assert importlib.metadata.version("django-meisa") == django_meisa.__version__
    root = importlib.resources.files("django_meisa")
    missing = [name for name in PACKAGED if not root.joinpath(name).is_file()]
    assert not missing, f"missing from the wheel: {missing}"
    print(f"ok: django-meisa {django_meisa.__version__} from {package}, data files packaged")
    return package


def configure(database: Path) -> None:
    """Minimal settings of a site that installs django-meisa."""
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="release-smoke-not-secret",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_meisa",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
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
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        EMAIL_BACKEND="django_meisa.backends.SuppressionEmailBackend",
        # The sync below runs in this process: no broker is needed.
        MEISA={"API_KEY": "meisa_test_key", "SYNC_ON_SAVE": False, "SYNC_ON_LOGIN": False},
    )
    django.setup()


def migrate_and_check() -> None:
    """Apply every migration (the wheel's included) and run the system checks."""
    from django.core.management import call_command
    from django.db.migrations.recorder import MigrationRecorder
    from django.template.loader import get_template

    call_command("migrate", verbosity=0)
    applied = MigrationRecorder.Migration.objects.filter(app="django_meisa").count()
    assert applied >= 1, "no django_meisa migration was applied"
    call_command("check", fail_level="ERROR")
    get_template("admin/django_meisa/usersyncstate/change_form.html")
    print(f"ok: migrate ({applied} django_meisa migrations), check, admin templates load")


def sync_one_user() -> None:
    """Sync one user to a local Meisa over real HTTP and look at what Meisa holds."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from django_meisa import sync_contact_now
    from django_meisa.testing.server import serve_in_thread

    server, base_url = serve_in_thread()
    try:
        meisa = {"API_KEY": "meisa_test_key", "BASE_URL": base_url, "SYNC_ON_SAVE": False}
        with override_settings(MEISA=meisa):
            user = get_user_model().objects.create(username="ada", email="ada@example.com")
            outcome = sync_contact_now(user.pk, force=True)
        contact = server.fake.contact("ada@example.com")
        assert contact is not None, f"Meisa holds no contact after {outcome}"
        assert contact["external_id"] == str(user.pk)
    finally:
        server.stop()
    print(f"ok: one sync against the local Meisa ({outcome.result})")


def main() -> int:
    """Run every step; an AssertionError or exception fails the release check."""
    check_installed_files()
    with tempfile.TemporaryDirectory() as folder:
        configure(Path(folder) / "smoke.sqlite3")
        migrate_and_check()
        sync_one_user()
    print("release smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
