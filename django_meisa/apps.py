"""Django application configuration for django-meisa."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class MeisaConfig(AppConfig):
    """Registers the system checks and connects the sync receivers."""

    name = "django_meisa"
    verbose_name = "Meisa"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_meisa import checks as meisa_checks

        checks.register(meisa_checks.check_settings)
        checks.register(meisa_checks.check_contact_sync)
        checks.register(meisa_checks.check_suppression)

        from django_meisa.backfill.checks import check_backfill

        checks.register(check_backfill)

        from django_meisa.contacts.receivers import connect_receivers

        connect_receivers()
