"""One chunk of a backfill: contact sync's own rules (``decide``, ``state``, ``leases``,
``announce``) called once per chunk instead of once per user.

``prepare_chunk`` runs before the requests and its ``Round`` records their results, both
in the thread that owns the database connection; only the upserts run elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError

from django_meisa.backfill.options import MeisaBackfillOptions
from django_meisa.backfill.report import MeisaBackfillCounts
from django_meisa.backfill.selection import (
    MeisaBackfillSelection,
    select_related_paths,
    selection_chunks,
)
from django_meisa.backfill.sending import SendResult
from django_meisa.backfill.state import ChunkLease, lease_chunk
from django_meisa.contacts import announce
from django_meisa.contacts.decide import FAIL, NO_EMAIL, UNCHANGED, StateView, decide
from django_meisa.contacts.eligibility import INELIGIBLE, eligible_users, passes_callable
from django_meisa.contacts.mapping import map_user
from django_meisa.contacts.preview import MeisaPreview, preview_contact
from django_meisa.contacts.state import (
    ChunkWriter,
    error_text,
    failure,
    handled,
    read_states,
    state_alias,
    success,
    users,
)
from django_meisa.exceptions import MeisaError
from django_meisa.models import BackfillRun, MeisaSyncResult
from django_meisa.suppression import suppressed_among

#: The ``source`` every backfill upsert carries (Meisa keeps a contact's first source).
BACKFILL_SOURCE = "initial_sync"
Log = Callable[[str], object]
#: What mapping a user gives: its payload, the mapper's error, or ``INELIGIBLE``.
Mapped = dict[str, Any] | MeisaError | str


@dataclass(frozen=True)
class BackfillContext:
    """What every chunk of one run shares: its start, its flags, and where to log."""

    started_at: dt.datetime
    run_id: int = 0
    force: bool = False
    dry_run: bool = False
    exclude_suppressed: bool = False
    select_related: tuple[str, ...] = ()
    #: Gets one line per failure or dry-run send (verbosity 2+).
    log: Log | None = None

    @classmethod
    def of_run(
        cls, run: BackfillRun, options: MeisaBackfillOptions, log: Log | None = None
    ) -> BackfillContext:
        """The context every chunk of ``run`` shares under ``options``."""
        return cls(
            started_at=run.started_at, run_id=run.pk, force=options.force,
            dry_run=options.dry_run, exclude_suppressed=options.selection.exclude_suppressed,
            select_related=tuple(select_related_paths()), log=log,
        )  # fmt: skip

    def note(self, line: str) -> None:
        """Pass ``line`` to ``log``, if any."""
        if self.log is not None:
            self.log(line)


@dataclass
class Job:
    """One upsert to send, and what to record on success."""

    user_pk: Any
    payload: dict[str, Any]
    fingerprint: str
    version: int
    #: The stored contact id, to notice a change of identity.
    previous_contact_id: str = ""


@dataclass
class Round:
    """One round of a chunk: what ``decide`` settled, the upserts left to send and, as their
    results come (``apply``, ``flush``), what became of each user until ``close``."""

    ctx: BackfillContext
    jobs: list[Job] = field(default_factory=list)
    counts: MeisaBackfillCounts = field(default_factory=MeisaBackfillCounts)
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: The chunk's lease and its buffered state writes (None in a dry run).
    lease: ChunkLease | None = None
    writer: ChunkWriter | None = None
    waiting: dict[Any, Job] = field(default_factory=dict)
    #: Users whose lease ran out before sending: to lease and map again.
    redo: list[Any] = field(default_factory=list)
    #: Users left unsent (the run is stopping): for ``--resume``.
    unsent: int = 0
    fatal: MeisaError | None = None

    @property
    def done(self) -> bool:
        """True when every upsert of the round has a result."""
        return not self.waiting

    @property
    def complete(self) -> bool:
        """True when every user of the round has a final outcome."""
        return not (self.redo or self.unsent or self.fatal)

    def fail(self, user_pk: Any, reason: str) -> None:
        """Count ``user_pk`` as failed for ``reason`` (kept for the failures CSV)."""
        self.counts.failed += 1
        self.failures.append((str(user_pk), reason))
        self.ctx.note(f"user pk={user_pk} failed: {reason}")

    def fail_for(self, user_pk: Any, version: int, err: MeisaError, *, permanent: bool) -> None:
        """Count, record and announce a failed user as the worker does (no log line: the CSV)."""
        self.fail(user_pk, error_text(err))
        if self.writer is None:
            return
        self.record(user_pk, failure(version, error_text(err), permanent=permanent))
        if permanent:
            announce.failed_for_good(user_pk, err, log=False)
        else:
            announce.failed_for_now(user_pk, err)

    def record(self, user_pk: Any, fields: dict[str, Any]) -> None:
        """Buffer a state write for ``user_pk`` (nothing in a dry run)."""
        if self.writer is not None:
            self.writer.add(user_pk, fields)

    def apply(self, user_pk: Any, result: SendResult) -> None:
        """Record ``result`` for ``user_pk`` (ignored if it is not waited for)."""
        job = self.waiting.pop(user_pk, None)
        if job is None:
            return
        if result.fatal is not None or (result.not_sent and not result.expired):
            self.unsent += 1
            self.fatal = self.fatal or result.fatal
        elif result.expired:
            self.redo.append(job.user_pk)
        elif result.contact is not None:
            self.counts.synced += 1
            fields = success(job.version, job.fingerprint, result.contact, job.previous_contact_id)
            self.record(job.user_pk, fields)
            announce.synced(
                job.user_pk, result.contact, BACKFILL_SOURCE, job.version, job.previous_contact_id
            )
        else:
            err = result.exception or MeisaError(result.error)
            self.fail_for(job.user_pk, job.version, err, permanent=not err.retryable)

    def flush(self) -> None:
        """Write the results applied so far to the state rows."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """End the round: unanswered users count as unsent; write; release the lease."""
        self.unsent += len(self.waiting)
        self.waiting.clear()
        self.flush()
        if self.lease is not None:
            self.lease.release()


def prepare_chunk(user_pks: list[Any], ctx: BackfillContext) -> Round:
    """Lease, load and map the users of ``user_pks``, ``decide`` each; return what to send.

    Users synced earlier in this run (a resumed chunk) and suppressed addresses (with
    ``exclude_suppressed``) are settled too. A dry run leases and writes nothing.
    """
    prepared = Round(ctx)
    if ctx.dry_run:
        states = read_states(state_alias(), user_pks)
        pks = list(user_pks)
    else:
        prepared.lease = _lease(user_pks, ctx.run_id)
        prepared.writer = ChunkWriter(state_alias(), prepared.lease.token)
        states, pks = prepared.lease.states, sorted(prepared.lease.states)
        for pk in prepared.lease.busy:
            prepared.fail(pk, "another worker kept syncing this user; run again later")
    loaded = load_users(pks, ctx.select_related)
    mapped = [(user, states.get(user.pk), _map(user)) for user in loaded]
    suppressed: set[str] = set()
    if ctx.exclude_suppressed:
        suppressed = suppressed_among([p["email"] for _, _, p in mapped if isinstance(p, dict)])
    for user, state, payload in mapped:
        _decide(prepared, state or StateView(user.pk), payload, suppressed)
    prepared.waiting = {job.user_pk: job for job in prepared.jobs}
    return prepared


def load_users(pks: list[Any], select_related: Sequence[str]) -> list[Any]:
    """Return the users of ``pks`` in pk order, with the mapper's relations joined."""
    if not pks:
        return []
    # SYNC_USERS_FILTER again: a user may have stopped matching since the selection.
    queryset = eligible_users(users(state_alias()).filter(pk__in=pks))
    if select_related:
        queryset = queryset.select_related(*select_related)
    return list(queryset.order_by("pk"))


def first_payloads(selection: MeisaBackfillSelection, limit: int) -> list[MeisaPreview]:
    """The previews of the first ``limit`` selected users, loaded as a chunk's (``--show``)."""
    pks = next(iter(selection_chunks(selection, limit)), []) if limit > 0 else []
    loaded = load_users(pks, select_related_paths())
    return [preview_contact(user, source=BACKFILL_SOURCE) for user in loaded]


def _lease(user_pks: list[Any], run_id: int) -> ChunkLease:
    try:
        return lease_chunk(user_pks, run_id=run_id)
    except IntegrityError:
        # A selected user was deleted before its state row could be created.
        existing = users(state_alias()).filter(pk__in=user_pks).values_list("pk", flat=True)
        return lease_chunk(list(existing), run_id=run_id)


def _map(user: Any) -> Mapped:
    try:
        if not passes_callable(user):
            return INELIGIBLE  # SHOULD_SYNC_USER leaves the user out
        return map_user(user)
    except MeisaError as err:  # a misconfigured mapper: this user fails, the run goes on
        return err


def _decide(
    prepared: Round,
    state: StateView,
    mapped: dict[str, Any] | MeisaError | str,
    suppressed: set[str],
) -> None:
    ctx = prepared.ctx
    pk, version = state.user_id, state.version
    if isinstance(mapped, str):  # INELIGIBLE: SHOULD_SYNC_USER leaves the user out
        prepared.counts.ineligible += 1
        prepared.record(pk, handled(version, MeisaSyncResult.SKIPPED_INELIGIBLE))
        return
    if state.last_synced_at and state.last_synced_at >= ctx.started_at and not ctx.dry_run:
        prepared.counts.synced += 1  # synced during this run already: never twice
        return
    if isinstance(mapped, dict) and mapped["email"] in suppressed:
        prepared.counts.suppressed += 1
        return
    decision = decide(state, mapped, force=ctx.force, source=BACKFILL_SOURCE)
    if decision.action == NO_EMAIL:
        prepared.counts.no_email += 1
        prepared.record(pk, handled(version, MeisaSyncResult.SKIPPED_NO_EMAIL))
    elif decision.action == FAIL:
        assert decision.error is not None
        prepared.fail_for(pk, version, decision.error, permanent=True)
    elif decision.action == UNCHANGED:
        prepared.counts.unchanged += 1
        prepared.record(pk, handled(version, MeisaSyncResult.UNCHANGED))
    elif ctx.dry_run:
        prepared.counts.synced += 1
        ctx.note(f"user pk={pk}: would send an upsert ({len(decision.payload)} fields)")
    else:
        payload = {**decision.payload, "source": decision.source}
        job = Job(pk, payload, decision.fingerprint, version, state.contact_id)
        prepared.jobs.append(job)
