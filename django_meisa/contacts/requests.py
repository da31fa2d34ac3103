"""Request path of contact sync: one durable version bump, then one publish after commit.

The bump is in the caller's transaction, so a pending sync is recorded exactly when the
change commits; a rollback discards both it and the on_commit callback that publishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from django_meisa import conf
from django_meisa.contacts.publisher import publish_later, publish_now
from django_meisa.contacts.state import column_of, db_value
from django_meisa.models import UserSyncState


def request_sync(
    user: Any, *, created: bool = False, login: bool = False, using: str | None = None
) -> None:
    """Sync ``user`` (a user or its primary key) to Meisa once the transaction commits.

    Call it after changes Django sends no signal for (``QuerySet.update()``, raw SQL).
    ``created`` sends source "signup"; ``login`` sends even if nothing mapped changed
    (Meisa: upsert on every login). One SQL statement per user per transaction; never
    raises for broker trouble.
    """
    if not conf.get_setting("ENABLED"):
        return
    pk = getattr(user, "pk", user)
    if pk is None:
        return
    using = using or router.db_for_write(UserSyncState)
    connection = connections[using]
    if not connection.in_atomic_block:
        bump_version(pk, created=created, login=login, using=using)
        # Outside a transaction the login's other writes (a sign-in counter in a later
        # user_logged_in receiver) are not committed yet: give them a moment.
        delay = float(conf.get_setting("SYNC_LOGIN_DELAY")) if login else 0.0
        publish_syncs([pk], countdown=delay if delay > 0 else None, using=using, soon=True)
        return
    batches = open_batches(connection)
    if any(batch.covers(pk, created, login) for batch in batches):
        return
    bump_version(pk, created=created, login=login, using=using)
    batch_for_savepoint(connection, batches, using).add(pk, created, login)


class MeisaSyncBatch:
    """The on_commit callback publishing the syncs requested at one savepoint level.

    A transaction's batches share ``published`` (one publish per user); rolling back a
    savepoint drops its batch together with the bumps it stands for.
    """

    def __init__(self, published: set[Any], using: str | None = None) -> None:
        #: pk -> (created, login) flags already written for it in this transaction.
        self.requested: dict[Any, tuple[bool, bool]] = {}
        self.published = published
        #: The database the versions were bumped on (the worker reads it there too).
        self.using = using

    def covers(self, pk: Any, created: bool, login: bool) -> bool:
        """True when ``pk`` was already bumped here, with every flag now asked for."""
        had = self.requested.get(pk)
        return had is not None and (had[0] or not created) and (had[1] or not login)

    def add(self, pk: Any, created: bool, login: bool) -> None:
        """Remember that ``pk`` was bumped and must be published on commit."""
        had_created, had_login = self.requested.get(pk, (False, False))
        self.requested[pk] = (had_created or created, had_login or login)

    def __call__(self) -> None:
        pks = [pk for pk in self.requested if pk not in self.published]
        self.published.update(pks)
        publish_syncs(pks, using=self.using, soon=True)


def open_batches(connection: Any) -> list[MeisaSyncBatch]:
    """Return this transaction's live batches, in registration order."""
    return [func for _, func, _ in connection.run_on_commit if isinstance(func, MeisaSyncBatch)]


def batch_for_savepoint(
    connection: Any, batches: list[MeisaSyncBatch], using: str
) -> MeisaSyncBatch:
    """Return the batch registered at the current savepoint level, registering one if needed."""
    here = set(connection.savepoint_ids)
    for sids, func, _ in connection.run_on_commit:
        if isinstance(func, MeisaSyncBatch) and sids == here:
            return func
    batch = MeisaSyncBatch(batches[0].published if batches else set(), using)
    transaction.on_commit(batch, using=using, robust=True)
    return batch


def bump_version(pk: Any, *, created: bool, using: str, login: bool = False) -> None:
    """Record a pending sync for ``pk``: ``version += 1``, creating the row if needed.

    One statement in the caller's transaction: ``INSERT ... ON CONFLICT DO UPDATE``, or
    ``ON DUPLICATE KEY UPDATE`` on MySQL/MariaDB (an update-then-insert deadlocks there
    under REPEATABLE READ's gap locks).
    """
    connection = connections[using]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            bump_sql(connection), [db_value("user", pk, connection), created, login, now, now]
        )


def bump_sql(connection: Any) -> str:
    """The bump's statement for ``connection``'s backend, built once per process (building
    it on every save was about a fifth of the bump's cost)."""
    ops = type(connection.ops)
    sql = _bump_statements.get(ops)
    if sql is None:
        sql = _bump_statements[ops] = build_bump_sql(connection)
    return sql


_bump_statements: dict[type, str] = {}  # per backend operations class: its dialect


def build_bump_sql(connection: Any) -> str:
    """``bump_version``'s upsert in ``connection``'s dialect."""
    qn = connection.ops.quote_name
    table = qn(UserSyncState._meta.db_table)
    user, version, signup, login_col, requested, pending = (
        qn(column_of(name))
        for name in (
            "user",
            "version",
            "signup_pending",
            "login_pending",
            "requested_at",
            "pending_since",
        )
    )
    if connection.vendor == "mysql":
        # VALUES(col) is the row that was not inserted (MariaDB has no "AS new" alias).
        new, on_conflict = "VALUES({})".format, "ON DUPLICATE KEY UPDATE"
    else:
        new, on_conflict = "EXCLUDED.{}".format, f"ON CONFLICT ({user}) DO UPDATE SET"
    # Only quoted identifiers from the model's metadata are formatted in; values are params.
    return (
        f"INSERT INTO {table} ({user}, {version}, {signup}, {login_col}, {requested}, "  # noqa: S608
        f"{pending}) VALUES (%s, 1, %s, %s, %s, %s) {on_conflict} "
        f"{version} = {table}.{version} + 1, "
        f"{signup} = ({table}.{signup} OR {new(signup)}), "
        f"{login_col} = ({table}.{login_col} OR {new(login_col)}), "
        f"{requested} = {new(requested)}, "
        f"{pending} = COALESCE({table}.{pending}, {new(pending)})"
    )


def publish_syncs(
    pks: Iterable[Any],
    *,
    countdown: float | None = None,
    using: str | None = None,
    soon: bool = False,
) -> None:
    """Publish one ``sync_contact`` task per primary key, by name, never raising.

    The one place contact sync publishes: ``soon`` (the request path, after commit)
    hands them to the background publisher, else (the sweep) they go out on this thread.
    """
    publish = publish_later if soon else publish_now
    publish(list(pks), countdown=countdown, kwargs=task_kwargs(using))


def task_kwargs(using: str | None) -> dict[str, Any] | None:
    """``{"using": alias}`` for a sync requested off the router's write alias, else None
    (the message is then the pk alone, as in 0.1)."""
    return None if using in (None, router.db_for_write(UserSyncState)) else {"using": using}
