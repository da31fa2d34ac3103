"""``manage.py meisa_sweep``: re-enqueue pending syncs once, for sites that run cron, not beat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_meisa import conf
from django_meisa.contacts.deletion import sweep_deletions
from django_meisa.contacts.sweep import sweep_pending_syncs


class Command(BaseCommand):
    help = (
        "Re-enqueue contact syncs left pending (broker outage, exhausted retries, lost "
        "workers) and unsent deleted-user upserts, as the periodic sweep task does. "
        "Prints the counts. Exits non-zero when django-meisa is disabled or the sweep fails."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not conf.get_setting("ENABLED"):
            raise CommandError('Sweep skipped: MEISA["ENABLED"] is False.')
        try:
            syncs = sweep_pending_syncs()
            deletions = sweep_deletions()
        except Exception as err:
            raise CommandError(f"Sweep failed: {type(err).__name__}: {err}") from err
        self.stdout.write(
            self.style.SUCCESS(f"re-enqueued {syncs} pending sync(s), {deletions} deletion(s)")
        )
