"""Django application configuration for django-meisa."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class MeisaConfig(AppConfig):
    """Registers the system checks and connects the sync and suppression receivers."""

    name = "django_meisa"
    verbose_name = "Meisa"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_meisa import checks as meisa_checks
        from django_meisa.backfill.checks import check_backfill
        from django_meisa.contacts import receivers as contact_receivers
        from django_meisa.suppression import receivers as suppression_receivers

        checks.register(meisa_checks.check_settings)
        checks.register(meisa_checks.check_contact_sync)
        checks.register(meisa_checks.check_sync_scope)
        checks.register(meisa_checks.check_suppression)
        checks.register(meisa_checks.check_suppression_mirror, checks.Tags.database)
        checks.register(meisa_checks.check_suppression_mirror_deploy, deploy=True)
        checks.register(check_backfill)
        checks.register(meisa_checks.check_database_vendor)
        checks.register(meisa_checks.check_database_version, checks.Tags.database)
        contact_receivers.connect_receivers()
        # Contact sync announces upserts; suppression listens (contacts never imports it).
        suppression_receivers.connect_receivers()
