"""Admin for the suppression list, per-user sync state and backfill runs."""

from django_meisa.admin import backfill, suppression, sync_state  # noqa: F401
