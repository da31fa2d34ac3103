"""Reading the suppression mirror: one indexed query per batch of addresses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import router

from django_meisa import conf
from django_meisa.models import SuppressedEmail
from django_meisa.suppression import negative_cache
from django_meisa.suppression.addresses import canonical_key, parse_recipient


def suppressed_keys(keys: Iterable[str]) -> set[str]:
    """Return the normalized ``keys`` that have a ``SuppressedEmail`` row.

    Called by the email backend with keys it already normalized. One ``IN`` query on
    the unique index per ``MEISA["SUPPRESSION_LOOKUP_BATCH_SIZE"]`` keys. Database
    errors propagate: callers decide between failing closed and open.
    """
    distinct = list(set(keys))  # keys may be a generator: read it once
    size = max(1, int(conf.get_setting("SUPPRESSION_LOOKUP_BATCH_SIZE")))
    using = router.db_for_read(SuppressedEmail)
    cached = negative_cache.cache.lookup(distinct, using, size)
    if cached is not None:
        return cached  # only the filter's possible hits were asked, with its token
    unique = sorted(distinct)  # sorted only here: the same keys make the same queries
    found: set[str] = set()
    for start in range(0, len(unique), size):
        batch = unique[start : start + size]
        found |= negative_cache.checked_lookup(batch, using, token=False)[0]
    return found


def suppressed_among(addresses: Iterable[str]) -> set[str]:
    """Return the members of ``addresses`` (as given) that must not be emailed.

    Each address goes through ``canonical_key``, so ``"Ada <Ada@Example.COM>"`` is
    returned when ``ada@example.com`` is suppressed; a value that is not exactly one
    address is returned too (the email backend drops it). One query per batch.
    """
    given = {a: canonical_key(a) for a in addresses}
    found = suppressed_keys(key for key in given.values() if key is not None)
    return {a for a, key in given.items() if key is None or key in found}


def is_suppressed(email: str) -> bool:
    """True when ``email`` must not be emailed: suppressed, or not exactly one address."""
    key = canonical_key(email)
    return key is None or bool(suppressed_keys([key]))


@dataclass(frozen=True)
class MeisaVerdict:
    """What the email backend would do with one recipient, and why."""

    suppressed: bool
    key: str | None
    entry: SuppressedEmail | None
    why: str


def explain_address(value: str) -> MeisaVerdict:
    """Say whether a recipient (``"Name <addr>"`` or a bare address) would be dropped.

    Used by the admin's "check an address" tool: names the normalized key and the
    matching entry with its source, or why the value can't be checked at all.
    """
    recipient = parse_recipient(value)
    if recipient.key is None:
        why = "Not exactly one valid address: the backend drops it (fails closed)."
        return MeisaVerdict(True, None, None, why)
    entry = SuppressedEmail.objects.filter(email=recipient.key).first()
    if entry is None:
        why = "No suppression entry: it is sent." + _mirror_caveat()
        return MeisaVerdict(False, recipient.key, None, why)
    why = f"Matches the {entry.get_source_display()} entry {entry.email!r}."
    return MeisaVerdict(True, recipient.key, entry, why)


def _mirror_caveat() -> str:
    # "It is sent" is only true of a mirror the backend trusts.
    from django_meisa.suppression.freshness import describe, mirror_freshness

    state = mirror_freshness()
    if not state.loaded:
        return f" But the mirror {describe(state)}: the backend sends nothing until it is."
    if state.stale:
        return f" But the mirror {describe(state)}: a recent unsubscribe may be missing."
    return ""
