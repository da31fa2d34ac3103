"""The payloads a backfill would send to its first users: ``meisa_backfill --dry-run --show``."""

from __future__ import annotations

from django_meisa.backfill.chunk import BACKFILL_SOURCE
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    select_related_paths,
    selected_users,
    selection_chunks,
)
from django_meisa.contacts.eligibility import eligible_users
from django_meisa.contacts.preview import MeisaPreview, preview_contact


def first_payloads(selection: MeisaBackfillSelection, limit: int) -> list[MeisaPreview]:
    """Return the previews of the first ``limit`` selected users, in primary-key order.

    The users are selected and loaded as the backfill does (its selection, the
    ``SYNC_USERS_FILTER``, its joins), and mapped with the backfill's source. Sends
    nothing and writes nothing.
    """
    if limit < 1:
        return []
    pks = next(iter(selection_chunks(selection, limit)), [])
    users = eligible_users(selected_users(selection).filter(pk__in=pks))
    users = users.select_related(*select_related_paths()).order_by("pk")
    return [preview_contact(user, source=BACKFILL_SOURCE) for user in users]
