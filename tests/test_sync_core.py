"""The sync core's rules, once: decide, the one state writer, and the drifts and traps it ended.

Each test below failed against 64e9129 (two copies of the sync rules), except the pure
``decide`` tests, which had nothing to import there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.management import CommandError
from django.utils import timezone

import django_meisa
from django_meisa.backfill import __all__ as backfill_public
from django_meisa.contacts.decide import (
    FAIL,
    NO_EMAIL,
    SEND,
    UNCHANGED,
    StateView,
    decide,
    payload_fingerprint,
)
from django_meisa.contacts.requests import request_sync
from django_meisa.contacts.state import ChunkWriter, failure, handled, success, sync_lease, write
from django_meisa.contacts.worker import MAX_ROUNDS, sync_contact_now
from django_meisa.exceptions import MeisaMappingError, MeisaNoEmailError
from django_meisa.models import MeisaSyncResult, UserSyncState
from django_meisa.signals import contact_sync_failed
from tests.backfill_support import backfill, make_users
from tests.sync_support import make_user, state_of

PAYLOAD = {"email": "ada@example.com", "first_name": "Ada"}
PACKAGE = Path(django_meisa.__file__).parent


# decide: pure ----------------------------------------------------------------------------


def test_an_unchanged_payload_needs_no_request():
    state = StateView(1, version=2, payload_fingerprint=payload_fingerprint(PAYLOAD))
    assert decide(state, PAYLOAD).action == UNCHANGED


def test_a_pending_login_sends_an_unchanged_payload():
    state = StateView(
        1, version=2, payload_fingerprint=payload_fingerprint(PAYLOAD), login_pending=True
    )
    decision = decide(state, PAYLOAD)
    assert (decision.action, decision.source) == (SEND, "api")


def test_a_signup_is_sent_with_source_signup_unless_the_caller_names_one():
    state = StateView(1, version=1, signup_pending=True)
    assert decide(state, PAYLOAD).source == "signup"
    assert decide(state, PAYLOAD, source="initial_sync").source == "initial_sync"


def test_mapper_outcomes():
    assert decide(StateView(1), MeisaNoEmailError("none")).action == NO_EMAIL
    decision = decide(StateView(1), MeisaMappingError("bad"))
    assert decision.action == FAIL
    assert isinstance(decision.error, MeisaMappingError)


# drifts between the worker and the backfill -----------------------------------------------


@pytest.mark.django_db
def test_the_backfill_sends_a_pending_login_instead_of_marking_it_handled(meisa_fake):
    [user] = make_users(1)
    assert sync_contact_now(user.pk).sent
    before = len(meisa_fake.upserts)
    # A login asked for an upsert; its task has not run yet when the backfill reaches it.
    UserSyncState.objects.filter(user_id=user.pk).update(
        version=2, login_pending=True, pending_since=timezone.now()
    )
    backfill("--inline")
    assert [body["email"] for body in meisa_fake.upserts[before:]] == [user.email]
    state = state_of(user)
    assert (state.synced_version, state.login_pending) == (2, False)


@pytest.mark.django_db
def test_a_mapper_failure_in_the_backfill_sends_contact_sync_failed(settings, meisa_fake):
    settings.MEISA = {**settings.MEISA, "MAPPER": "tests.sync_callables.junk_mapper"}
    [user] = make_users(1)
    failures = []

    def receiver(sender, **kwargs):
        failures.append(kwargs)

    contact_sync_failed.connect(receiver)
    try:
        with pytest.raises(CommandError, match="1 users failed"):
            backfill("--inline")
    finally:
        contact_sync_failed.disconnect(receiver)
    assert [(f["user_pk"], f["retryable"]) for f in failures] == [(user.pk, False)]
    assert isinstance(failures[0]["error"], MeisaMappingError)
    assert state_of(user).is_failed


# one writer: the per-row and the buffered chunk writes are the same writes -----------------


#: Columns compared between the two writers (not the row's identity, lease or clocks).
COMPARED = [
    f.name
    for f in UserSyncState._meta.fields
    if f.name not in {"id", "user", "lease_token", "lease_until"}
    and not f.name.endswith(("_at", "_since"))
]


def _row(user):
    state = state_of(user)
    return {name: getattr(state, name) for name in COMPARED}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        lambda: success(1, "f" * 64, {"id": "c1", "status": "bounced"}),
        lambda: handled(1, MeisaSyncResult.UNCHANGED),
        lambda: failure(1, "MeisaServerError: 502", permanent=False),
        lambda: failure(1, "MeisaRequestError: 400", permanent=True),
    ],
    ids=["success", "handled", "retryable", "permanent"],
)
def test_the_chunk_writer_writes_what_the_row_writer_writes(fields):
    one, two = make_user("one"), make_user("two")
    UserSyncState.objects.update(login_pending=True, attempts=2, last_error="old")
    for user in (one, two):
        lease = sync_lease("default", [user.pk])
        assert lease.take()
        if user is one:
            assert write(lease, fields())
        else:
            writer = ChunkWriter("default", lease.token)
            writer.add(user.pk, fields())
            writer.flush()
    assert _row(one) == _row(two)


@pytest.mark.django_db
def test_the_chunk_writer_leaves_a_row_another_lease_holds():
    user = make_user("taken")
    writer = ChunkWriter("default", "not-the-holder")
    writer.add(user.pk, handled(1, MeisaSyncResult.UNCHANGED))
    writer.flush()
    assert state_of(user).synced_version == 0


# traps -------------------------------------------------------------------------------------


class ChangingClient:
    """A client whose every upsert is followed by another change of the user."""

    def __init__(self, user):
        self.user, self.sent = user, 0

    def upsert_contact(self, payload):
        self.sent += 1
        self.user.first_name = f"n{self.sent}"
        self.user.save()
        return {"id": "c", "email": payload["email"], "status": "active"}


@pytest.mark.django_db(transaction=True)  # each save commits, so each bumps the version
def test_sync_contact_now_sends_at_most_max_rounds_upserts(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda *a, **k: None)
    user = make_user("busy")
    client = ChangingClient(user)
    sync_contact_now(user.pk, client=client)
    assert client.sent == MAX_ROUNDS == 3
    assert state_of(user).is_pending  # the rest is left to the change's own task


def _defined_functions(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


#: The sync core's modules (checkpoint.unfinished_chunks was dead code here).
CORE = [
    *(PACKAGE / "backfill").glob("*.py"),
    *(PACKAGE / "contacts" / f"{name}.py" for name in ("decide", "state", "worker", "sweep")),
    PACKAGE / "contacts" / "requests.py",
    PACKAGE / "leases.py",
    PACKAGE / "retry.py",
]


def test_no_dead_function_in_the_sync_core():
    sources = [path.read_text() for path in PACKAGE.rglob("*.py")]
    dead = [
        f"{module.name}:{name}"
        for module in CORE
        for name in _defined_functions(module)
        if sum(text.count(name) for text in sources) <= 1  # only its own definition
    ]
    assert dead == []


def test_both_backfill_modes_share_one_round_loop():
    # Inline and queued rounds differ only in their sender: one module prepares and
    # closes rounds (a second loop would drift, as the sync rules once did).
    callers = {
        module.name
        for module in (PACKAGE / "backfill").glob("*.py")
        if "prepare_chunk(" in module.read_text() or "Round(" in module.read_text()
    }
    assert callers == {"chunk.py", "rounds.py"}


def test_only_the_public_backfill_classes_carry_the_prefix():
    prefixed = set()
    for module in (PACKAGE / "backfill").glob("*.py"):
        for node in ast.parse(module.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Meisa"):
                prefixed.add(node.name)
    assert prefixed <= set(backfill_public)


def test_the_public_backfill_names_still_import():
    from django_meisa.backfill import (  # noqa: F401
        MeisaBackfillCounts,
        MeisaBackfillOptions,
        MeisaBackfillResult,
        MeisaBackfillSelection,
        MeisaRetryPolicy,
        run_backfill,
    )


@pytest.mark.django_db
def test_request_sync_records_a_pending_version_for_the_sweep(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda *a, **k: None)
    user = make_user("pending")
    request_sync(user)
    assert state_of(user).is_pending
