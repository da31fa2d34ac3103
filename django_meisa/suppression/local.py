"""Staff-added (``local``) entries: adding one, and removing without unsuppressing."""

from __future__ import annotations

import datetime as dt

from django.db import router, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from django_meisa import conf
from django_meisa.models import SuppressedEmail
from django_meisa.suppression.addresses import canonical_key
from django_meisa.suppression.negative_cache import bump_generation


def suppress_locally(email: str, reason: str = "") -> bool:
    """Suppress ``email`` as a ``local`` entry (no refresh removes it); True when stored.

    Idempotent: an address that already has a row keeps it as it is (a ``meisa`` row
    stays Meisa's). False when ``email`` is not exactly one address (``canonical_key``
    is None): nothing could be sent to it anyway. Database errors propagate.
    """
    key = canonical_key(email)
    if key is None:
        return False
    using = router.db_for_write(SuppressedEmail)
    with transaction.atomic(using=using):
        _entry, created = SuppressedEmail.objects.using(using).get_or_create(
            email=key, defaults={"source": SuppressedEmail.Source.LOCAL, "reason": reason[:200]}
        )
        if created:
            bump_generation(using)
    return True


def remove_local_entries(entries: QuerySet[SuppressedEmail]) -> tuple[int, int]:
    """Delete the ``local`` rows among ``entries``; return (deleted, handed over).

    Called by the admin. A local row that Meisa's latest applied list also had
    (``meisa_lists_too``, set by the refresh), or that an upsert reported within
    ``SUPPRESSION_STATUS_GRACE``, is not deleted but handed over to Meisa (source
    ``meisa``): the address stays suppressed for as long as Meisa says so.
    ``meisa`` rows in ``entries`` are left alone.
    """
    grace = dt.timedelta(seconds=float(conf.get_setting("SUPPRESSION_STATUS_GRACE")))
    meisa_wants_it = Q(meisa_lists_too=True) | Q(reported_at__gte=timezone.now() - grace)
    local = entries.filter(source=SuppressedEmail.Source.LOCAL)
    using = entries.db
    with transaction.atomic(using=using):
        handed = local.filter(meisa_wants_it).update(
            source=SuppressedEmail.Source.MEISA, meisa_lists_too=False
        )
        deleted, _details = local.exclude(meisa_wants_it).delete()
        bump_generation(using)
    return deleted, handed
