"""manage.py meisa_refresh_suppressions: refresh the suppression mirror inline and report."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_meisa.suppression import RefreshResult, refresh_suppressions
from django_meisa.suppression.refresh import forget_applied_as_of


class Command(BaseCommand):
    help = (
        "Download Meisa's unsubscribed-emails list and apply it to the local suppression "
        "table now. Prints the counts added, confirmed, removed, withheld and rejected "
        "(entries that are not one storable address: skipped); exits "
        "non-zero when the refresh fails or is skipped (another refresh holds the lock, "
        'or MEISA["ENABLED"] is False).'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Apply deletions the shrink guard would withhold (an empty or shrunken "
            "list), and a list older than the applied one. Use it once you have checked "
            "that the shrink (or the older date) is genuine.",
        )
        parser.add_argument(
            "--reset-as-of",
            action="store_true",
            help="Forget the applied list's as_of date first (a wrong date, e.g. in the "
            "future, makes every genuine list look older), then refresh.",
        )

    def handle(
        self, *args: Any, force: bool = False, reset_as_of: bool = False, **options: Any
    ) -> None:
        if reset_as_of:
            forget_applied_as_of()
            self.stderr.write("The applied as_of was reset.")
        result = refresh_suppressions(force=force)
        if result.error:
            raise CommandError(f"Suppression refresh failed; table unchanged. {result.error}")
        if result.skipped:
            raise CommandError(f"Suppression refresh skipped: {result.skipped_reason}.")
        self.stdout.write(self.style.SUCCESS(result.summary()))
        if result.rejected:
            self.stderr.write(
                self.style.WARNING(
                    f"{result.rejected} entr(ies) of Meisa's list REJECTED: not one storable "
                    "address (NUL, invalid code points, several addresses...); the rest was "
                    "applied."
                )
            )
        if result.withheld:
            self.stderr.write(
                self.style.WARNING(
                    f"{result.withheld} deletion(s) WITHHELD: the list shrank suspiciously. "
                    "Re-run with --force if the shrink is genuine."
                )
            )


def summary(result: RefreshResult) -> str:
    """One line of counts for ``result`` (kept for callers of 0.1; see ``summary()``)."""
    return result.summary()
