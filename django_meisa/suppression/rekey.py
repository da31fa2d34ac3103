"""Re-key stored rows to ``canonical_key`` (run once by migration 0002; safe to re-run)."""

from __future__ import annotations

import logging
import re
from itertools import islice
from typing import Any

from django.db import transaction

from django_meisa.suppression.addresses import canonical_key, normalize_many

logger = logging.getLogger("django_meisa.suppression")

LOCAL = "local"
SCAN_BATCH = 5000


def rekey_rows(model: Any, using: str = "default") -> dict[str, int]:
    """Give every ``SuppressedEmail`` row of ``model`` its canonical key; return counts.

    Before 0.2 the admin and the refresh stored lowercased raw text, so
    ``"jane doe <jane@example.com>"`` could be a row that no lookup ever matched. A row
    whose key differs is re-keyed; when the key already has a row, the two are merged
    into it, keeping the strongest information (``local`` over ``meisa``, the earliest
    ``first_seen``, the latest report). A row with no key at all is kept as it was, and
    each address it lists (``"a@x.com; b@x.com"``) is suppressed on its own row too.
    """
    counts = {"rekeyed": 0, "merged": 0, "split": 0, "kept": 0}
    with transaction.atomic(using=using):
        for row_id, text, key in _non_canonical(model, using):
            row = model.objects.using(using).get(pk=row_id)
            if key is None:
                counts["kept"] += 1
                counts["split"] += _split(model, using, row, text)
            elif _move(model, using, row, key):
                counts["merged"] += 1
            else:
                counts["rekeyed"] += 1
    if any(counts.values()):
        logger.warning("Suppression rows re-keyed to their canonical form: %s", counts)
    return counts


def _non_canonical(model: Any, using: str) -> list[tuple[Any, str, str | None]]:
    # One pass in batches; canonical rows (nearly all) cost one lower() per batch.
    found: list[tuple[Any, str, str | None]] = []
    rows = model.objects.using(using).order_by().values_list("pk", "email")
    scan = rows.iterator(chunk_size=SCAN_BATCH)
    while batch := list(islice(scan, SCAN_BATCH)):
        found += _differing(batch)
    return found


def _differing(batch: list[tuple[Any, str]]) -> list[tuple[Any, str, str | None]]:
    keys = normalize_many([email for _pk, email in batch])
    return [
        (pk, email, key or None)
        for (pk, email), key in zip(batch, keys, strict=True)
        if key != email
    ]


def _move(model: Any, using: str, row: Any, key: str) -> bool:
    """Re-key ``row`` to ``key``; True when it was merged into an existing row."""
    existing = model.objects.using(using).filter(email=key).first()
    if existing is None:
        row.email = key
        row.save(using=using, update_fields=["email"])
        return False
    _merge_into(existing, row)
    existing.save(using=using)
    row.delete()
    return True


def _merge_into(keep: Any, other: Any) -> None:
    legacy = hasattr(keep, "last_confirmed")  # the model of migration 0004, which runs this
    listed = not legacy and (_listed(keep) or _listed(other))  # before source changes
    if other.source == LOCAL and keep.source != LOCAL:
        keep.source, keep.reason = LOCAL, other.reason or keep.reason
    keep.reason = keep.reason or other.reason
    keep.first_seen = min(keep.first_seen, other.first_seen)
    reports = [d for d in (keep.reported_at, other.reported_at) if d is not None]
    keep.reported_at = max(reports) if reports else None
    if legacy:
        _merge_last_confirmed(keep, other)
    elif keep.source == LOCAL:
        keep.meisa_lists_too, keep.withheld_last_listed = listed, None
    elif keep.withheld_last_listed is None or other.withheld_last_listed is None:
        keep.withheld_last_listed = None  # listed by the latest refresh: the strongest
    else:
        keep.withheld_last_listed = max(keep.withheld_last_listed, other.withheld_last_listed)


def _listed(row: Any) -> bool:
    # Meisa's latest list has the row's address: a local row marked so, or a meisa row
    # neither withheld nor only reported.
    if row.source == LOCAL:
        return bool(row.meisa_lists_too)
    return row.withheld_last_listed is None and row.reported_at is None


def _merge_last_confirmed(keep: Any, other: Any) -> None:
    # Before 0008 one column held both marks (see that migration): a date on a local
    # row meant "Meisa lists it too", on a meisa row "withheld", NULL "listed".
    confirmed = [d for d in (keep.last_confirmed, other.last_confirmed) if d is not None]
    if keep.source == LOCAL:
        keep.last_confirmed = max(confirmed) if confirmed else None
    elif keep.last_confirmed is None or other.last_confirmed is None:
        keep.last_confirmed = None
    else:
        keep.last_confirmed = max(confirmed)


def _split(model: Any, using: str, row: Any, text: str) -> int:
    # Staff typed "a@x.com; b@x.com" meaning both: suppress each (pieces that are no
    # address, like half of "Doe, Jane <j@x.com>", are simply ignored).
    added = 0
    for piece in re.split(r"[;,]", text):
        key = canonical_key(piece)
        if key and not model.objects.using(using).filter(email=key).exists():
            model.objects.using(using).create(
                email=key, source=row.source, reason=row.reason, first_seen=row.first_seen
            )
            added += 1
    return added
