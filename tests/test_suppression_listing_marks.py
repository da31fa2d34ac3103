"""#13's trap: ``last_confirmed`` meant three things. Each now has its own field, migration
0008 moves every row's meaning there (and back), and each is read from its own field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression.apply import DiffApplier, ShrinkGuard
from tests.db_roles import role_mode

APP = "django_meisa"
BEFORE = [(APP, "0007_backfill_chunk_ineligible")]
AFTER = [(APP, "0008_suppressed_email_listing_marks")]
AS_OF = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)
WITHHELD = dt.datetime(2026, 10, 1, 12, tzinfo=dt.timezone.utc)
SEEN = dt.datetime(2026, 9, 1, 12, tzinfo=dt.timezone.utc)


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate the test database to ``targets``; the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_0007() -> Iterator[Any]:
    """The schema before 0008; the latest schema again afterwards."""
    if role_mode():
        pytest.skip("migrations run as the owner; this corner connects as a DML-only role")
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(APP))


# The five kinds of row before 0008, and what each must read as afterwards:
# (source, last_confirmed, reported_at) -> (withheld_last_listed, meisa_lists_too)
ROWS: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "listed@x.com": (("meisa", None, None), (None, False)),
    "withheld@x.com": (("meisa", WITHHELD, None), (WITHHELD, False)),
    "reported@x.com": (("meisa", None, AS_OF), (None, False)),
    "local@x.com": (("local", None, None), (None, False)),
    "local-listed@x.com": (("local", AS_OF, None), (None, True)),
}


def seed_0007(apps: Any) -> None:
    Row = apps.get_model(APP, "SuppressedEmail")
    for email, ((source, confirmed, reported), _after) in ROWS.items():
        Row.objects.create(
            email=email,
            source=source,
            last_confirmed=confirmed,
            reported_at=reported,
            first_seen=SEEN,
        )
    apps.get_model(APP, "SuppressionRefreshState").objects.create(
        pk=1, as_of=AS_OF, last_confirmed=7
    )


@pytest.mark.django_db(transaction=True)
def test_0008_moves_every_meaning_to_its_own_field(at_0007):
    seed_0007(at_0007)
    apps = migrate(AFTER)
    rows = apps.get_model(APP, "SuppressedEmail").objects
    assert rows.count() == len(ROWS)  # every row kept
    for email, ((source, _c, reported), expected) in ROWS.items():
        row = rows.get(email=email)
        assert (row.withheld_last_listed, row.meisa_lists_too) == expected, email
        assert (row.source, row.reported_at, row.first_seen) == (source, reported, SEEN)
    state = apps.get_model(APP, "SuppressionRefreshState").objects.get()
    assert state.last_confirmed_count == 7


@pytest.mark.django_db(transaction=True)
def test_0008_reverses_to_the_one_column(at_0007):
    seed_0007(at_0007)
    migrate(AFTER)
    apps = migrate(BEFORE)
    rows = apps.get_model(APP, "SuppressedEmail").objects
    back = {row.email: row.last_confirmed for row in rows.all()}
    assert back == {email: before[1] for email, (before, _after) in ROWS.items()}
    assert apps.get_model(APP, "SuppressionRefreshState").objects.get().last_confirmed == 7


def apply(keys: set[str], as_of: dt.datetime, previous: dt.datetime | None = None) -> Any:
    params = {
        "now": timezone.now(),
        "as_of": as_of,
        "previous_as_of": previous,
        "grace_cutoff": as_of - dt.timedelta(hours=1),
        "fingerprint": "",
    }
    return DiffApplier("default").apply(keys, params, ShrinkGuard(0.1, 2, force=False))


@pytest.mark.django_db
def test_each_meaning_is_read_from_its_own_field():
    # Listed, withheld, a local row Meisa lists too, a local row only: each answer has
    # its own field, and the state's count no longer shares a row field's name.
    SuppressedEmail.objects.create(email="local-listed@x.com", source="local")
    SuppressedEmail.objects.create(email="local@x.com", source="local")
    listed = {f"u{i}@x.com" for i in range(20)}
    apply(listed | {"local-listed@x.com"}, WITHHELD)
    shrunk = apply({f"u{i}@x.com" for i in range(3, 20)} | {"local-listed@x.com"}, AS_OF, WITHHELD)
    assert shrunk.withheld == 3
    SuppressionRefreshState.objects.create(pk=1, as_of=AS_OF, last_confirmed_count=17)
    state, row = SuppressionRefreshState.load(), SuppressedEmail.objects.get
    assert row(email="u5@x.com").withheld_last_listed is None  # in the latest list
    assert row(email="u5@x.com").last_listed_at(state) == AS_OF
    assert row(email="u0@x.com").withheld_last_listed == WITHHELD  # left out, withheld
    assert row(email="u0@x.com").last_listed_at(state) == WITHHELD
    assert row(email="local-listed@x.com").meisa_lists_too is True
    assert row(email="local-listed@x.com").withheld_last_listed is None
    assert row(email="local@x.com").meisa_lists_too is False
    assert state.last_confirmed_count == 17
    assert "last_confirmed" not in {f.name for f in SuppressedEmail._meta.get_fields()}
    assert "last_confirmed" not in {f.name for f in SuppressionRefreshState._meta.get_fields()}
