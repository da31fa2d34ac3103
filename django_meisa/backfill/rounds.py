"""The backfill's one round loop: lease and map a chunk, send its upserts, record, redo.

Both modes run it with their own sender: ``--inline`` a ``SenderPool`` (while its
threads send chunk N, the calling thread prepares chunk N+1), a chunk task a
``SequentialSender``. All database work stays in the calling thread. Ctrl-C and
SIGTERM ask it to stop at a safe point (``graceful_stop``), never mid-write.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, cast

from django_meisa.backfill.checkpoint import claim_chunk, complete_chunk, release_chunk, renew_claim
from django_meisa.backfill.chunk import BackfillContext, Round, prepare_chunk
from django_meisa.backfill.report import BackfillProgress, MeisaBackfillCounts
from django_meisa.backfill.sending import SenderPool, SequentialSender
from django_meisa.backfill.state import RENEW_INTERVAL, chunk_lease_seconds
from django_meisa.exceptions import MeisaError
from django_meisa.models import BackfillChunk

#: Seconds between writes of results to the state rows while a chunk is sending: the
#: most a hard crash (SIGKILL) can lose, and so what ``--resume`` might send again.
FLUSH_INTERVAL = 0.02


@contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGINT and SIGTERM set ``stop`` instead of raising.

    The loop checks ``stop`` between steps, so it never dies halfway through recording
    results (``--resume`` would send some users twice). A second Ctrl-C raises, for a
    run stuck in a long wait. Outside the main thread signals cannot be handled.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous: dict[Any, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Every:
    """Paces flushes and renewals: ``interval`` seconds from the end of the last one.

    From the end, not the start: a pump loop about as slow as the interval would
    otherwise flush on every other pump, twice the commits for the same rows.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = time.monotonic()

    def due(self, *, now: bool = False) -> bool:
        """True when the interval has passed since ``done``, or at once with ``now``."""
        return now or time.monotonic() - self.last >= self.interval

    def done(self) -> None:
        """The paced work just ended: the next interval starts now."""
        self.last = time.monotonic()


@dataclass
class _Flight:
    chunk: BackfillChunk
    current: Round | None = None
    counts: MeisaBackfillCounts = field(default_factory=MeisaBackfillCounts)
    failures: list[tuple[str, str]] = field(default_factory=list)


class ChunkRunner:
    """Runs chunks through a sender, two at a time (one sends while the next is prepared).

    After ``sender.stop`` (Ctrl-C) or a fatal error (a bad key) it takes no new chunk;
    chunks in flight are recorded as far as they got and left for ``--resume``.
    """

    def __init__(
        self,
        ctx: BackfillContext,
        *,
        sender: SenderPool | SequentialSender,
        progress: BackfillProgress | None = None,
    ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.progress = progress
        self.claim_seconds = chunk_lease_seconds()
        self.flights: dict[int, _Flight] = {}
        self.closed = MeisaBackfillCounts()
        #: Counts of the chunks this session completed (the rest of ``closed`` belongs to
        #: chunks left unfinished).
        self.completed = MeisaBackfillCounts()
        self.fatal: MeisaError | None = None
        self.unfinished = 0
        self._flush, self._renew = Every(FLUSH_INTERVAL), Every(RENEW_INTERVAL)

    @property
    def stopping(self) -> bool:
        """True once the run should take no new chunk."""
        return self.sender.stop.is_set() or self.fatal is not None

    def run(self, chunks: Iterable[tuple[BackfillChunk, list[Any]]]) -> None:
        """Process ``(chunk, user pks)`` pairs until done or stopped, then drain."""
        for chunk, pks in chunks:
            if self.stopping:
                break
            if claim_chunk(chunk.pk, self.claim_seconds):
                self.start(chunk, pks)
            while len(self.flights) >= 2 and not self.stopping:
                self.pump()
        self.drain()

    def drain(self) -> None:
        """Wait for every chunk in flight to get all its results, and record them.

        Results that never came (sender threads gone) count as unsent; a chunk whose
        preparation failed is left for ``--resume``.
        """
        while self.flights:
            for flight in [f for f in self.flights.values() if f.current is None]:
                del self.flights[flight.chunk.pk]
                self.unfinished += 1
                release_chunk(flight.chunk.pk)
            if not self.flights:
                break
            self.pump()
            if self.flights and not self.sender.alive():
                self.sender.stop.set()
                for flight in list(self.flights.values()):
                    self.end_round(flight)
        self.show(force=True)

    def start(self, chunk: BackfillChunk, pks: list[Any]) -> None:
        """Put ``chunk`` in flight: prepare it and queue its upserts."""
        flight = _Flight(chunk)
        self.flights[chunk.pk] = flight
        self.begin_round(flight, pks)

    def begin_round(self, flight: _Flight, pks: list[Any]) -> None:
        """Lease and map ``pks`` (all of a chunk, or users whose lease ran out) and send."""
        # Mapping a chunk takes a while: write what has come back first, so a hard crash
        # meanwhile cannot make --resume send those users again.
        self.pump(timeout=0)
        self.flush(now=True)
        flight.current = prepare_chunk(pks, self.ctx)
        for job in flight.current.jobs:
            self.sender.submit((flight.chunk.pk, job.user_pk), job.payload, flight.current.lease)
        if flight.current.done:
            self.end_round(flight)

    def pump(self, timeout: float = 0.1) -> None:
        """Apply the results ready now; close finished rounds; flush; show progress."""
        for key, result in self.sender.collect(timeout=timeout):
            chunk_pk, user_pk = cast("tuple[int, Any]", key)
            flight = self.flights.get(chunk_pk)
            if flight is not None and flight.current is not None:
                flight.current.apply(user_pk, result)
            if result.fatal is not None and self.fatal is None:
                self.fatal = result.fatal
                self.sender.stop.set()
        for flight in list(self.flights.values()):
            if flight.current is not None and flight.current.done:
                self.end_round(flight)
        self.flush()
        self.renew()
        self.show()

    def show(self, *, force: bool = False) -> None:
        """Update the progress display, if there is one."""
        if self.progress is not None:
            self.progress.update(self.live_counts(), force=force)

    def flush(self, *, now: bool = False) -> None:
        """Write applied results to the state rows every ``FLUSH_INTERVAL`` seconds."""
        if not self._flush.due(now=now):
            return
        for flight in self.flights.values():
            if flight.current is not None:
                flight.current.flush()
        self._flush.done()

    def renew(self) -> None:
        """Renew the leases and claims of the chunks in flight every ``RENEW_INTERVAL`` s."""
        if not self._renew.due():
            return
        for flight in self.flights.values():
            lease = flight.current.lease if flight.current is not None else None
            if lease is not None:
                lease.renew()
            renew_claim(flight.chunk.pk, self.claim_seconds)
        self._renew.done()

    def end_round(self, flight: _Flight) -> None:
        """Close a round; redo users whose lease ran out; complete or release the chunk."""
        outcome, flight.current = flight.current, None
        assert outcome is not None
        outcome.close()
        sent = len(outcome.jobs)
        flight.counts.add(outcome.counts)
        flight.failures.extend(outcome.failures)
        self.closed.add(outcome.counts)
        # Redo only while some of the round got through: a lease too short for the
        # timeouts would loop forever. Otherwise they are left for --resume.
        if outcome.redo and not self.stopping and len(outcome.redo) < sent:
            self.begin_round(flight, outcome.redo)
            return
        del self.flights[flight.chunk.pk]
        if outcome.complete:
            complete_chunk(flight.chunk, flight.counts, flight.failures)
            self.completed.add(flight.counts)
        else:
            self.unfinished += 1
            release_chunk(flight.chunk.pk)

    def live_counts(self) -> MeisaBackfillCounts:
        """This session's counts so far, including rounds still sending."""
        counts = MeisaBackfillCounts()
        counts.add(self.closed)
        for flight in self.flights.values():
            if flight.current is not None:
                counts.add(flight.current.counts)
        return counts
