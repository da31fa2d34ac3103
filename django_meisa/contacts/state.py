"""The one writer of UserSyncState: what each outcome writes, per row or buffered for a chunk.

``success``, ``handled`` and ``failure`` say which columns an outcome sets; ``write``
applies them to one leased row (the worker), ``ChunkWriter`` to a chunk's rows with one
``executemany`` per kind of outcome (the backfill). Every write is guarded by the lease
token, and every read and write goes to ``state_alias()``, never a replica.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connections, models, router, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from django_meisa.contacts.decide import STATE_FIELDS, StateView
from django_meisa.exceptions import MeisaAPIError, MeisaError
from django_meisa.leases import Lease, lease_seconds
from django_meisa.models import MeisaSyncResult, UserSyncState


def state_alias() -> str:
    """The router's *write* alias: on a lagging replica a pending sync looks done, and an
    old payload is recorded as the new version."""
    return router.db_for_write(UserSyncState)


def users(alias: str) -> Any:
    """The user model's default manager on ``alias`` (the state's database)."""
    return get_user_model()._default_manager.db_manager(alias)


def sync_lease(alias: str, user_pks: Iterable[Any], seconds: float | None = None) -> Lease:
    """The sync lease on the state rows of ``user_pks`` (one user, or a chunk's users)."""
    rows = UserSyncState.objects.using(alias).filter(user_id__in=list(user_pks))
    return Lease(rows, seconds if seconds is not None else lease_seconds())


def read_states(alias: str, user_pks: Iterable[Any], *, token: str = "") -> dict[Any, StateView]:
    """Return ``{user pk: StateView}`` for the rows of ``user_pks`` (held by ``token``).

    Tuples, not model instances: building a model per row doubles a backfill's cost.
    """
    rows = UserSyncState.objects.using(alias).filter(user_id__in=list(user_pks))
    if token:
        rows = rows.filter(lease_token=token)
    return {row[0]: StateView(*row) for row in rows.values_list(*STATE_FIELDS)}


def ensure_rows(alias: str, user_pks: list[Any]) -> None:
    """Create the state rows ``user_pks`` lack (every other column has a database default).

    One parameter per row with ``executemany``: ``bulk_create`` compiles every column
    of every row, ten times the cost for a backfill's chunk.
    """
    rows = UserSyncState.objects.using(alias).filter(user_id__in=user_pks)
    existing = set(rows.values_list("user_id", flat=True))
    missing = [pk for pk in user_pks if pk not in existing]
    if not missing:
        return
    connection = connections[alias]
    qn = connection.ops.quote_name
    table, user = qn(UserSyncState._meta.db_table), qn(column_of("user"))
    sql = f"INSERT INTO {table} ({user}) VALUES (%s) "  # noqa: S608 (quoted identifiers)
    # Not INSERT IGNORE on MySQL: that would also turn a deleted user's FK error into a warning.
    sql += (
        f"ON DUPLICATE KEY UPDATE {user} = {user}"
        if connection.vendor == "mysql"
        else f"ON CONFLICT ({user}) DO NOTHING"
    )
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.executemany(sql, [(db_value("user", pk, connection),) for pk in missing])


class Clear(NamedTuple):
    """Set the column to ``cleared`` unless a request newer than ``version`` arrived."""

    cleared: Any
    version: int


class Add(NamedTuple):
    """Add ``amount`` to the column."""

    amount: int


def success(
    version: int, fingerprint: str, contact: dict[str, Any], previous_contact_id: str = ""
) -> dict[str, Any]:
    """The columns an accepted upsert of ``version`` sets (it answers a login too).

    Another contact id than the stored ``previous_contact_id`` is ``contact_changed``.
    """
    now = timezone.now()
    status = contact.get("status")
    contact_id = str(contact.get("id", ""))[:64]
    changed = contact_changed(previous_contact_id, contact_id)
    result = MeisaSyncResult.CONTACT_CHANGED if changed else MeisaSyncResult.SYNCED
    fields = {
        **handled(version, result, now=now),
        "signup_pending": False,
        "payload_fingerprint": fingerprint,
        "contact_id": contact_id,
        "meisa_status": status[:32] if isinstance(status, str) else "",
        "last_synced_at": now,
    }
    if changed:
        fields["previous_contact_id"] = previous_contact_id
    return fields


def contact_changed(previous_contact_id: str, contact_id: str) -> bool:
    """True when a stored contact id exists and Meisa now answered with another one."""
    return bool(previous_contact_id and contact_id) and previous_contact_id != contact_id


def handled(version: int, result: str, *, now: Any = None) -> dict[str, Any]:
    """The columns a handled ``version`` sets: sent, unchanged, or skipped (no email)."""
    return {
        "synced_version": version,
        "failed_version": None,
        "pending_since": Clear(None, version),
        "login_pending": Clear(False, version),
        "last_attempt_at": now or timezone.now(),
        "last_result": str(result),
        "attempts": 0,
        "last_error": "",
        "last_error_at": None,
    }


def failure(version: int, error: str, *, permanent: bool) -> dict[str, Any]:
    """The columns a failed attempt sets; a permanent one marks ``failed_version``."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "attempts": Add(1),
        "last_error": error[:1000],
        "last_error_at": now,
        "last_attempt_at": now,
        "last_result": str(
            MeisaSyncResult.FAILED_PERMANENT if permanent else MeisaSyncResult.FAILED_RETRYABLE
        ),
    }
    if permanent:
        fields["failed_version"] = version
    return fields


def write(lease: Lease, fields: dict[str, Any]) -> bool:
    """Write ``fields`` to the rows ``lease`` holds; False when it holds none any more."""
    return bool(lease.held().update(**{name: _orm(name, spec) for name, spec in fields.items()}))


def _orm(name: str, spec: Any) -> Any:
    if isinstance(spec, Clear):
        return Case(When(version__lte=spec.version, then=Value(spec.cleared)), default=F(name))
    if isinstance(spec, Add):
        return F(name) + spec.amount
    return spec


class ChunkWriter:
    """Buffers a chunk's outcomes and writes them with one ``executemany`` per kind.

    Plain ``UPDATE ... WHERE user = %s AND lease_token = %s`` costs microseconds per
    row, where ``bulk_update``'s ``CASE WHEN`` costs a millisecond.
    """

    def __init__(self, alias: str, token: str) -> None:
        self.alias = alias
        self.token = token
        self._rows: dict[tuple[tuple[str, str], ...], list[tuple[Any, ...]]] = {}

    def add(self, user_pk: Any, fields: dict[str, Any]) -> None:
        """Buffer ``fields`` (from ``success``/``handled``/``failure``) for ``user_pk``."""
        connection = connections[self.alias]
        kind: list[tuple[str, str]] = []
        params: list[Any] = []
        for name, spec in fields.items():
            tag, values = _shape(spec, connection)
            kind.append((name, tag))
            params.extend(values)
        params += [db_value("user", user_pk, connection), self.token]
        self._rows.setdefault(tuple(kind), []).append(tuple(params))

    def flush(self) -> None:
        """Write the buffered outcomes in one transaction (callers flush often)."""
        if not self._rows:
            return
        connection = connections[self.alias]
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            for kind, rows in self._rows.items():
                cursor.executemany(_update_sql(kind, connection), rows)
        self._rows.clear()


def _shape(spec: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
    """How ``spec`` is written (a tag naming its SQL) and its parameters; NULL is inlined."""
    if isinstance(spec, Clear):
        if spec.cleared is None:
            return "clear_null", (spec.version,)
        return "clear", (spec.version, spec.cleared)
    if isinstance(spec, Add):
        return "add", (spec.amount,)
    if spec is None:
        return "null", ()
    if isinstance(spec, dt.datetime):
        return "value", (connection.ops.adapt_datetimefield_value(spec),)
    return "value", (spec,)


#: The SQL of each tag; ``{c}`` is the column, ``{v}`` the version column.
ASSIGNMENTS = {
    "clear_null": "{c} = CASE WHEN {v} <= %s THEN NULL ELSE {c} END",
    "clear": "{c} = CASE WHEN {v} <= %s THEN %s ELSE {c} END",
    "add": "{c} = {c} + %s",
    "null": "{c} = NULL",
    "value": "{c} = %s",
}


def _update_sql(kind: tuple[tuple[str, str], ...], connection: Any) -> str:
    qn = connection.ops.quote_name
    version = qn(column_of("version"))
    parts = [ASSIGNMENTS[tag].format(c=qn(column_of(name)), v=version) for name, tag in kind]
    # Only quoted identifiers from the model's metadata go into the SQL; values are params.
    return (
        f"UPDATE {qn(UserSyncState._meta.db_table)} SET {', '.join(parts)} "  # noqa: S608
        f"WHERE {qn(column_of('user'))} = %s AND {qn(column_of('lease_token'))} = %s"
    )


def _field(name: str) -> models.Field[Any, Any]:
    field = UserSyncState._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def column_of(name: str) -> str:
    """Return the database column of ``UserSyncState`` field ``name`` (for raw SQL)."""
    return str(_field(name).column)


def db_value(name: str, value: Any, connection: Any) -> Any:
    """``value`` as the database stores field ``name`` (a UUID user key is 32 hex digits
    on SQLite: raw SQL gets no conversion from the ORM)."""
    return _field(name).get_db_prep_value(value, connection)


def error_text(err: MeisaError) -> str:
    """Return a one-line description of ``err`` safe to store, log and show.

    For a rejected request the field names (never values) Meisa complained about are added.
    """
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, MeisaAPIError) and err.status_code in (400, 409, 422):
        fields = _error_fields(err)
        if fields:
            text += f" (fields: {', '.join(fields)})"
    return text[:1000]


def _error_fields(err: MeisaAPIError) -> list[str]:
    try:
        body = json.loads(err.response_text)
    except ValueError:
        return []
    return sorted(str(key)[:40] for key in body)[:10] if isinstance(body, dict) else []


def forget_fingerprint(alias: str, user_pk: Any) -> None:
    """Make the next sync of ``user_pk`` really send (after an upsert sent without the lease)."""
    UserSyncState.objects.using(alias).filter(user_id=user_pk).update(payload_fingerprint="")
