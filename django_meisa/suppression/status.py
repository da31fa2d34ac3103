"""Suppress an address at once when an upsert reports a contact that isn't active."""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.utils import timezone

from django_meisa.models import SuppressedEmail
from django_meisa.suppression.addresses import canonical_key
from django_meisa.suppression.negative_cache import bump_generation

logger = logging.getLogger("django_meisa.suppression")

ACTIVE = "active"


def suppress_contact_status(email: str, status: str) -> None:
    """Suppress ``email`` now because Meisa reported its contact ``status`` (not active).

    Called by contact sync after an upsert. The row is a ``meisa`` row stamped with
    ``reported_at``: refreshes keep it while Meisa's list doesn't show it yet, for
    ``MEISA["SUPPRESSION_STATUS_GRACE"]`` seconds after the report (the list snapshot
    may lag), and clear the stamp once the list does. ``local`` rows keep their source
    and note, and are stamped too.
    An ``active`` status is ignored. Database errors propagate.
    """
    status = (status or "").strip().lower()
    if status == ACTIVE:
        return
    key = canonical_key(email or "")
    if key is None:
        # Nothing could ever be sent to it either: the backend drops such a recipient.
        logger.warning("Meisa reported a contact status for a value that is no address")
        return
    now = timezone.now()
    using = router.db_for_write(SuppressedEmail)
    with transaction.atomic(using=using):
        bump_generation(using)
        rows = SuppressedEmail.objects.using(using).select_for_update()
        defaults = {"source": SuppressedEmail.Source.MEISA, "reported_at": now, "reason": status}
        entry, created = rows.get_or_create(email=key, defaults=defaults)
        if not created and entry.source == SuppressedEmail.Source.MEISA:
            _restamp(entry, status, now)
        elif not created:
            # A local row keeps its source and note; the stamp tells the admin that
            # deleting it must hand it over to Meisa rather than unsuppress it.
            entry.reported_at = now
            entry.save(update_fields=["reported_at"])
    if created:
        logger.info("Suppressed an address at once: Meisa reported its status as %s", status)


def _restamp(entry: SuppressedEmail, status: str, now: object) -> None:
    # A listed row needs nothing but the reason. A row the latest list left out
    # (withheld, or reported earlier) gets a fresh stamp, so the grace restarts.
    fields = ["reason"]
    entry.reason = status[:200]
    if entry.reported_at is not None or entry.withheld_last_listed is not None:
        entry.reported_at = now  # type: ignore[assignment]
        fields.append("reported_at")
    entry.save(update_fields=fields)
