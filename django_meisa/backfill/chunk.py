"""One chunk of a backfill: lease and map its users before sending, record them after.

``prepare_chunk`` runs before any request (lease, states, users, mapper, suppression,
fingerprints) and ``MeisaChunkTracker`` after the requests (state rows, signals). Both run
in the thread that owns the database connection; only the upserts run elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError

from django_meisa.backfill.record import MeisaChunkRecord
from django_meisa.backfill.report import MeisaBackfillCounts
from django_meisa.backfill.selection import user_model
from django_meisa.backfill.sender import SendResult
from django_meisa.backfill.state import (
    MeisaChunkLease,
    MeisaStateSnapshot,
    lease_chunk,
    read_states,
)
from django_meisa.contacts.mapping import build_contact_payload
from django_meisa.contacts.worker import payload_fingerprint, send_robust
from django_meisa.exceptions import MeisaError, MeisaMappingError, MeisaNoEmailError
from django_meisa.models import MeisaSyncResult
from django_meisa.signals import contact_sync_failed, contact_synced

#: The ``source`` every backfill upsert carries (Meisa keeps a contact's first source).
BACKFILL_SOURCE = "initial_sync"


@dataclass(frozen=True)
class MeisaBackfillContext:
    """What every chunk of one run shares: its start, its flags, and where to log."""

    started_at: dt.datetime
    run_id: int = 0
    force: bool = False
    dry_run: bool = False
    exclude_suppressed: bool = False
    select_related: tuple[str, ...] = ()
    #: Called with one line per notable user (failures; dry-run sends) at verbosity 2+.
    log: Callable[[str], None] | None = None

    def note(self, line: str) -> None:
        """Pass ``line`` to ``log`` when there is one."""
        if self.log is not None:
            self.log(line)


@dataclass
class MeisaBackfillJob:
    """One upsert to send: the payload with ``source``, and what to record on success."""

    user_pk: Any
    payload: dict[str, Any]
    fingerprint: str
    version: int
    state: MeisaStateSnapshot | None


@dataclass
class MeisaPreparedChunk:
    """A chunk after mapping: the upserts to send and the users already decided."""

    jobs: list[MeisaBackfillJob] = field(default_factory=list)
    counts: MeisaBackfillCounts = field(default_factory=MeisaBackfillCounts)
    failures: list[tuple[str, str]] = field(default_factory=list)
    record: MeisaChunkRecord | None = None

    @property
    def lease(self) -> MeisaChunkLease | None:
        """The chunk's lease (None in a dry run): no upsert starts after its deadline."""
        return self.record.lease if self.record else None

    def fail(self, user_pk: Any, reason: str, ctx: MeisaBackfillContext) -> None:
        """Count ``user_pk`` as failed for ``reason`` (kept for the failures CSV)."""
        self.counts.failed += 1
        self.failures.append((str(user_pk), reason))
        ctx.note(f"user pk={user_pk} failed: {reason}")


def prepare_chunk(user_pks: list[Any], ctx: MeisaBackfillContext) -> MeisaPreparedChunk:
    """Lease, load and map the users of ``user_pks``; return what to send.

    Decides at once, without a request: users already synced during this run (a
    resumed chunk), users without an email, mapper failures, suppressed addresses
    (with ``exclude_suppressed``) and unchanged payloads (unless ``force``). A dry run
    reads the states but leases and writes nothing.
    """
    prepared = MeisaPreparedChunk()
    if ctx.dry_run:
        states = read_states(user_pks)
        pks = list(user_pks)
    else:
        lease = _lease(user_pks, ctx.run_id)
        prepared.record = MeisaChunkRecord(lease)
        states, pks = lease.states, sorted(lease.states)
        for pk in lease.busy:
            prepared.fail(pk, "another worker kept syncing this user; run again later", ctx)
    users = load_users(pks, ctx.select_related)
    mapped = [(user, states.get(user.pk), _map(user)) for user in users]
    suppressed = _suppressed_emails(mapped) if ctx.exclude_suppressed else set()
    for user, state, payload in mapped:
        _decide(prepared, ctx, user.pk, state, payload, suppressed)
    return prepared


def load_users(pks: list[Any], select_related: tuple[str, ...]) -> list[Any]:
    """Return the users of ``pks`` in pk order, with the mapper's relations joined."""
    if not pks:
        return []
    queryset = user_model()._default_manager.filter(pk__in=pks)
    if select_related:
        queryset = queryset.select_related(*select_related)
    return list(queryset.order_by("pk"))


def _lease(user_pks: list[Any], run_id: int) -> MeisaChunkLease:
    try:
        return lease_chunk(user_pks, run_id=run_id)
    except IntegrityError:
        # A selected user was deleted before its state row could be created.
        existing = list(
            user_model()._default_manager.filter(pk__in=user_pks).values_list("pk", flat=True)
        )
        return lease_chunk(existing, run_id=run_id)


def _map(user: Any) -> dict[str, Any] | MeisaError:
    try:
        return build_contact_payload(user)
    except MeisaError as err:  # MeisaNoEmailError, MeisaMappingError
        return err


def _suppressed_emails(mapped: list[tuple[Any, Any, Any]]) -> set[str]:
    from django_meisa.suppression import suppressed_among

    emails = [payload["email"] for _, _, payload in mapped if isinstance(payload, dict)]
    return suppressed_among(emails)


def _decide(
    prepared: MeisaPreparedChunk,
    ctx: MeisaBackfillContext,
    user_pk: Any,
    state: MeisaStateSnapshot | None,
    payload: dict[str, Any] | MeisaError,
    suppressed: set[str],
) -> None:
    record, version = prepared.record, state.version if state else 0
    if (
        state
        and state.last_synced_at
        and state.last_synced_at >= ctx.started_at
        and not ctx.dry_run
    ):
        prepared.counts.synced += 1  # synced during this run already: never twice
    elif isinstance(payload, MeisaNoEmailError):
        prepared.counts.no_email += 1
        if record and state:
            record.handled(state, version, MeisaSyncResult.SKIPPED_NO_EMAIL)
    elif isinstance(payload, (MeisaMappingError, MeisaError)):
        prepared.fail(user_pk, f"{type(payload).__name__}: {payload}", ctx)
        if record and state:
            record.failure(state, version, prepared.failures[-1][1], permanent=True)
    elif payload["email"] in suppressed:
        prepared.counts.suppressed += 1
    else:
        _decide_send(prepared, ctx, user_pk, state, payload)


def _decide_send(
    prepared: MeisaPreparedChunk,
    ctx: MeisaBackfillContext,
    user_pk: Any,
    state: MeisaStateSnapshot | None,
    payload: dict[str, Any],
) -> None:
    fingerprint = payload_fingerprint(payload)
    version = state.version if state else 0
    if not ctx.force and state and state.payload_fingerprint == fingerprint:
        prepared.counts.unchanged += 1
        if prepared.record and state:
            prepared.record.handled(state, version, MeisaSyncResult.UNCHANGED)
    elif ctx.dry_run:
        prepared.counts.synced += 1
        ctx.note(f"user pk={user_pk}: would send an upsert ({len(payload)} fields)")
    else:
        job_payload = {**payload, "source": BACKFILL_SOURCE}
        prepared.jobs.append(MeisaBackfillJob(user_pk, job_payload, fingerprint, version, state))


@dataclass
class MeisaChunkOutcome:
    """How a chunk ended: complete unless users were left over (redo, unsent, fatal)."""

    counts: MeisaBackfillCounts
    failures: list[tuple[str, str]]
    #: Users whose lease ran out before sending: lease and map them again.
    redo: list[Any] = field(default_factory=list)
    #: Users not sent because the run is stopping: left for ``--resume``.
    unsent: int = 0
    fatal: MeisaError | None = None

    @property
    def complete(self) -> bool:
        """True when every user of the chunk has a final outcome."""
        return not (self.redo or self.unsent or self.fatal)


class MeisaChunkTracker:
    """Applies a prepared chunk's upsert results as they arrive, then closes it.

    ``apply`` records each result on the state rows in memory; ``flush`` writes them
    (callers flush often); ``close`` counts users with no result as unsent, writes
    everything and releases the chunk's lease.
    """

    def __init__(self, prepared: MeisaPreparedChunk, ctx: MeisaBackfillContext) -> None:
        self.prepared = prepared
        self.ctx = ctx
        self.outcome = MeisaChunkOutcome(prepared.counts, prepared.failures)
        self.waiting = {job.user_pk: job for job in prepared.jobs}

    @property
    def done(self) -> bool:
        """True when every upsert of the chunk has a result."""
        return not self.waiting

    def apply(self, user_pk: Any, result: SendResult) -> None:
        """Record ``result`` for ``user_pk`` (ignored if it is not waited for)."""
        job = self.waiting.pop(user_pk, None)
        if job is not None:
            _finish_job(self.prepared, self.outcome, job, result, self.ctx)

    def flush(self) -> None:
        """Write the results applied so far to the state rows."""
        if self.prepared.record is not None and self.prepared.record.dirty:
            self.prepared.record.flush()

    def close(self) -> MeisaChunkOutcome:
        """Finish the chunk: unanswered users count as unsent; write; release the lease."""
        self.outcome.unsent += len(self.waiting)
        self.waiting.clear()
        if self.prepared.record is not None:
            self.prepared.record.save()
        return self.outcome


def _finish_job(
    prepared: MeisaPreparedChunk,
    outcome: MeisaChunkOutcome,
    job: MeisaBackfillJob,
    result: SendResult,
    ctx: MeisaBackfillContext,
) -> None:
    record, state = prepared.record, job.state
    if result.fatal is not None or (result.not_sent and not result.expired):
        outcome.unsent += 1
        outcome.fatal = outcome.fatal or result.fatal
    elif result.expired:
        outcome.redo.append(job.user_pk)
    elif result.contact is not None:
        outcome.counts.synced += 1
        if record and state:
            record.success(state, job.version, job.fingerprint, result.contact)
        send_robust(contact_synced, user_pk=job.user_pk, contact=result.contact,
                    source=BACKFILL_SOURCE, version=job.version)  # fmt: skip
    else:
        prepared.fail(job.user_pk, result.error, ctx)
        permanent = not (result.exception and result.exception.retryable)
        if record and state:
            record.failure(state, job.version, result.error, permanent=permanent)
        send_robust(contact_sync_failed, user_pk=job.user_pk, error=result.exception,
                    retryable=not permanent)  # fmt: skip
