"""Removing staff-added (``local``) entries without ever unsuppressing a listed address."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from django_meisa import conf
from django_meisa.models import SuppressedEmail


def remove_local_entries(entries: QuerySet[SuppressedEmail]) -> tuple[int, int]:
    """Delete the ``local`` rows among ``entries``; return (deleted, handed over).

    Called by the admin. A local row that Meisa's latest applied list also had
    (``last_confirmed`` set by the refresh), or that an upsert reported within
    ``SUPPRESSION_STATUS_GRACE``, is not deleted but handed over to Meisa (source
    ``meisa``): the address stays suppressed for as long as Meisa says so.
    ``meisa`` rows in ``entries`` are left alone.
    """
    grace = dt.timedelta(seconds=float(conf.get_setting("SUPPRESSION_STATUS_GRACE")))
    meisa_wants_it = Q(last_confirmed__isnull=False) | Q(reported_at__gte=timezone.now() - grace)
    local = entries.filter(source=SuppressedEmail.Source.LOCAL)
    with transaction.atomic():
        handed = local.filter(meisa_wants_it).update(
            source=SuppressedEmail.Source.MEISA, last_confirmed=None
        )
        deleted, _details = local.exclude(meisa_wants_it).delete()
    return deleted, handed
