"""``manage.py meisa_sync``: sync, or preview, one user or a few (thin: parse, call, report)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_meisa.contacts.lookup import find_users
from django_meisa.contacts.preview import MeisaPreview, preview_contact
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.exceptions import MeisaConfigurationError, MeisaError

#: Results that mean nothing went wrong (the exit status stays 0).
OK_RESULTS = frozenset(
    {"synced", "contact_changed", "unchanged", "up_to_date", "skipped_no_email",
     "skipped_ineligible"}
)  # fmt: skip


class Command(BaseCommand):
    help = (
        "Sync the given users to Meisa now, in this process. Each USER is a primary key, "
        "a username or an email (every user with that email). --preview prints the JSON "
        "the next upsert would send and sends nothing; --force sends even when nothing "
        "changed. Exits non-zero when a user is not found, fails, or can't be mapped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("users", nargs="+", metavar="USER", help="pk, username or email")
        parser.add_argument(
            "--preview", action="store_true", help="Print the upsert payload; send nothing."
        )
        parser.add_argument(
            "--force", action="store_true", help="Send even if the payload is unchanged."
        )

    def handle(self, *args: Any, users: list[str], preview: bool, force: bool, **opts: Any) -> None:
        problems = 0
        for identifier in users:
            found = find_users(identifier)
            if not found:
                self.stderr.write(f"{identifier}: no user with this pk, username or email")
                problems += 1
            if len(found) > 1:
                pks = ", ".join(str(user.pk) for user in found)
                self.stderr.write(f"{identifier}: {len(found)} users share it (pks {pks})")
            for user in found:
                ok = self.show_preview(user) if preview else self.sync(user, force)
                problems += not ok
        if problems:
            raise CommandError(f"{problems} problem(s); see above.", returncode=1)

    def show_preview(self, user: Any) -> bool:
        """Print ``user``'s next upsert body (or its mapping error); True when it maps."""
        result = preview_contact(user)
        self.stdout.write(f"# user pk={user.pk}{not_eligible_note(result)}")
        if result.payload is None:
            self.stderr.write(self.style.ERROR(describe_failure(result)))
            return False
        self.stdout.write(result.json)
        return True

    def sync(self, user: Any, force: bool) -> bool:
        """Sync ``user`` now and print the outcome; True when nothing failed."""
        try:
            outcome = sync_contact_now(user.pk, force=force)
        except MeisaConfigurationError as err:
            raise CommandError(str(err)) from err
        except MeisaError as err:
            self.stderr.write(self.style.ERROR(f"user pk={user.pk}: failed, retryable: {err}"))
            return False
        line = f"user pk={user.pk}: {outcome.result}"
        if outcome.error is not None:
            self.stderr.write(self.style.ERROR(f"{line}: {outcome.error}"))
        else:
            self.stdout.write(self.style.SUCCESS(line))
        return str(outcome.result) in OK_RESULTS


def not_eligible_note(result: MeisaPreview) -> str:
    """A note for a user the SYNC_USERS_FILTER / SHOULD_SYNC_USER settings leave out."""
    return "" if result.eligible else " (not eligible: a sync would send nothing)"


def describe_failure(result: MeisaPreview) -> str:
    """One or two lines: the mapping error, the field it names, and its cause."""
    text = f"mapping failed for field {result.field or '?'}: {result.error}"
    return f"{text}\n  caused by {result.detail}" if result.detail else text
