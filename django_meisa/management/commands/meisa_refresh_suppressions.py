"""manage.py meisa_refresh_suppressions: refresh the suppression mirror inline and report."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_meisa.suppression import RefreshResult, refresh_suppressions


class Command(BaseCommand):
    help = (
        "Download Meisa's unsubscribed-emails list and apply it to the local suppression "
        "table now. Prints the counts added, confirmed, removed and withheld; exits "
        "non-zero when the refresh fails or is skipped (another refresh holds the lock, "
        'or MEISA["ENABLED"] is False).'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Apply deletions the shrink guard would withhold (an empty or shrunken "
            "list). Use it once you have checked that the shrink is genuine.",
        )

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        result = refresh_suppressions(force=force)
        if result.error:
            raise CommandError(f"Suppression refresh failed; table unchanged. {result.error}")
        if result.skipped:
            raise CommandError(f"Suppression refresh skipped: {result.skipped_reason}.")
        self.stdout.write(self.style.SUCCESS(summary(result)))
        if result.withheld:
            self.stderr.write(
                self.style.WARNING(
                    f"{result.withheld} deletion(s) WITHHELD: the list shrank suspiciously. "
                    "Re-run with --force if the shrink is genuine."
                )
            )


def summary(result: RefreshResult) -> str:
    """One line of counts for ``result`` (also used by the admin's messages)."""
    as_of = result.as_of.isoformat() if result.as_of else "?"
    return (
        f"added {result.added}, confirmed {result.confirmed}, removed {result.removed}, "
        f"withheld {result.withheld} (Meisa list of {result.count} as of {as_of})"
    )
