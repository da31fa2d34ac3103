"""Admin for the suppression list and per-user sync state."""

from django_meisa.admin import suppression, sync_state  # noqa: F401
