"""Which users a backfill syncs, streamed in primary-key order by keyset pagination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet

from django_meisa import conf
from django_meisa.contacts.eligibility import eligible_users
from django_meisa.contacts.state import state_alias, users


@dataclass(frozen=True)
class MeisaBackfillSelection:
    """The users a run syncs. Stored on the run (``as_dict``) so ``--resume`` reuses it.

    ``since``: joined or changed since then (``changed_since_q``). Inactive users are
    included unless ``exclude_inactive``: they are still contacts Meisa should know.
    """

    ids: tuple[Any, ...] | None = None
    #: Where ``ids`` came from (``--ids-file``): stored instead of the ids themselves.
    ids_file: str | None = None
    since: dt.datetime | None = None
    only_unsynced: bool = False
    exclude_inactive: bool = False
    exclude_suppressed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the selection as JSON-ready data."""
        stored_ids = None if self.ids is None or self.ids_file else [str(pk) for pk in self.ids]
        since = self.since.isoformat() if self.since else None
        flags = {name: getattr(self, name) for name in _FLAGS}
        return {"ids": stored_ids, "ids_file": self.ids_file, "since": since, **flags}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeisaBackfillSelection:
        """Rebuild a selection saved by ``as_dict``."""
        ids, ids_file, since = data.get("ids"), data.get("ids_file"), data.get("since")
        if ids_file:
            ids = read_ids_file(ids_file)
        return cls(
            ids=None if ids is None else tuple(to_pk(pk) for pk in ids),
            ids_file=ids_file,
            since=dt.datetime.fromisoformat(since) if since else None,
            **{name: bool(data.get(name)) for name in _FLAGS},
        )


_FLAGS = ("only_unsynced", "exclude_inactive", "exclude_suppressed")


def to_pk(value: Any) -> Any:
    """Convert a primary key as stored (a string) back to the user model's pk type."""
    return get_user_model()._meta.pk.to_python(value)


def read_ids_file(path: str) -> list[str]:
    """Return the primary keys in ``path``: one per line or comma-separated; ``#`` comments."""
    ids: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0]
            ids.extend(part.strip() for part in line.replace(",", " ").split() if part.strip())
    return ids


def selected_users(selection: MeisaBackfillSelection) -> QuerySet[Any]:
    """Return the queryset of selected users, without the ``ids`` filter.

    ``ids`` are applied a chunk at a time, so a million ids never make one huge ``IN``.
    """
    # The state's write alias: a lagging replica would miss new users and changes.
    # SYNC_USERS_FILTER in the same SQL: users it leaves out are never selected.
    queryset = eligible_users(users(state_alias()).all())
    if selection.exclude_inactive and _has_field("is_active"):
        queryset = queryset.filter(is_active=True)
    if selection.since is not None:
        queryset = queryset.filter(changed_since_q(selection.since))
    if selection.only_unsynced:
        queryset = queryset.exclude(meisa_sync_state__last_synced_at__isnull=False)
    return queryset


def changed_since_q(since: dt.datetime) -> Q:
    """Users joined or changed since ``since``.

    Joined: ``date_joined``. Changed: a sync was requested since then (the sync state's
    ``requested_at``, bumped by every save, login and trigger), or they logged in, or
    the field named by ``MEISA["BACKFILL_CHANGED_FIELD"]`` (e.g. ``"updated_at"``) is
    that recent. Fields the user model lacks are left out.
    """
    names = ["date_joined", "last_login", conf.get_setting("BACKFILL_CHANGED_FIELD")]
    query = Q(meisa_sync_state__requested_at__gte=since)
    for name in names:
        if name and _has_field(name.split("__")[0]):
            query |= Q(**{f"{name}__gte": since})
    return query


def selection_chunks(
    selection: MeisaBackfillSelection, chunk_size: int, *, after: Any = None
) -> Iterator[list[Any]]:
    """Yield the selected primary keys in order, ``chunk_size`` at a time, after ``after``."""
    queryset = selected_users(selection)
    if selection.ids is None:
        yield from pk_chunks(queryset, chunk_size, after=after)
        return
    ids = sorted({pk for pk in selection.ids if after is None or pk > after})
    for start in range(0, len(ids), chunk_size):
        window = ids[start : start + chunk_size]
        pks = list(queryset.filter(pk__in=window).order_by("pk").values_list("pk", flat=True))
        if pks:
            yield pks


def count_selected(selection: MeisaBackfillSelection, *, after: Any = None) -> int:
    """Return how many users are selected after pk ``after`` (for the progress total)."""
    if selection.ids is None:
        queryset = selected_users(selection)
        if after is not None:
            queryset = queryset.filter(pk__gt=after)
        return queryset.count()
    return sum(len(pks) for pks in selection_chunks(selection, 10000, after=after))


def pk_chunks(
    queryset: QuerySet[Any], chunk_size: int, *, after: Any = None
) -> Iterator[list[Any]]:
    """Yield the primary keys of ``queryset`` in order, ``chunk_size`` at a time.

    Keyset pagination (``pk > last``, ``LIMIT``): each query is an index range scan, so
    memory and per-chunk cost stay flat however large the table is.
    """
    while True:
        page = queryset.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        pks = list(page.values_list("pk", flat=True)[:chunk_size])
        if not pks:
            return
        yield pks
        after = pks[-1]


def pks_in_range(selection: MeisaBackfillSelection, first: Any, last: Any) -> list[Any]:
    """Return the selected primary keys from ``first`` to ``last`` inclusive, in order."""
    page = selected_users(selection).filter(pk__gte=first, pk__lte=last)
    if selection.ids is not None:
        page = page.filter(pk__in=[pk for pk in selection.ids if first <= pk <= last])
    return list(page.order_by("pk").values_list("pk", flat=True))


def select_related_paths() -> list[str]:
    """The relations to join when loading a chunk's users for the mapper.

    ``MEISA["BACKFILL_SELECT_RELATED"]``, else the leading to-one relations of the mapped
    attribute paths (``"profile.plan"`` joins ``profile``).
    """
    explicit = conf.get_setting("BACKFILL_SELECT_RELATED")
    if explicit is not None:
        return list(explicit)
    paths: set[str] = set()
    for path in _mapped_attribute_paths():
        relation = _to_one_prefix(get_user_model(), path.split("."))
        if relation:
            paths.add("__".join(relation))
    return sorted(paths)


def _mapped_attribute_paths() -> Sequence[str]:
    values = list((conf.get_setting("CUSTOM_FIELDS") or {}).values())
    values.extend(
        conf.get_setting(n) for n in ("EXTERNAL_ID_FIELD", "FIRST_NAME_FIELD", "LAST_NAME_FIELD")
    )
    return [v for v in values if isinstance(v, str) and "." in v]


def _to_one_prefix(model: type[models.Model], parts: list[str]) -> list[str]:
    prefix: list[str] = []
    for part in parts[:-1]:
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            break
        if not (field.is_relation and (field.one_to_one or field.many_to_one)):
            break
        prefix.append(part)
        model = field.related_model  # type: ignore[assignment]
    return prefix


def _has_field(name: str) -> bool:
    try:
        get_user_model()._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True
