"""What a backfill run is asked to do (``MeisaBackfillOptions``) and which mode it runs in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django_meisa.backfill.selection import MeisaBackfillSelection
from django_meisa.retry import MeisaRetryPolicy

INLINE, ENQUEUE = "inline", "enqueue"


@dataclass(frozen=True)
class MeisaBackfillOptions:
    """Everything a run needs. The command builds it from its arguments.

    ``mode`` None picks one with ``default_mode``. ``resume`` continues the latest
    unfinished run (True) or run number ``resume``, with that run's own selection,
    chunk size, force and dry-run.
    """

    selection: MeisaBackfillSelection = field(default_factory=MeisaBackfillSelection)
    mode: str | None = None
    chunk_size: int = 500
    concurrency: int = 4
    rate: float | None = None
    force: bool = False
    dry_run: bool = False
    resume: bool | int = False
    wait: bool = True
    policy: MeisaRetryPolicy = field(default_factory=MeisaRetryPolicy)

    def stored(self) -> dict[str, Any]:
        """The options saved on the run, for ``--resume`` and for Celery workers."""
        return {
            "selection": self.selection.as_dict(),
            "chunk_size": self.chunk_size,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "force": self.force,
            "dry_run": self.dry_run,
            "retries": self.policy.retries,
        }

    def resumed_from(self, stored: dict[str, Any]) -> MeisaBackfillOptions:
        """These options with the selection and flags of a stored run."""
        return replace(
            self,
            selection=MeisaBackfillSelection.from_dict(stored["selection"]),
            chunk_size=int(stored["chunk_size"]),
            force=bool(stored["force"]),
            dry_run=bool(stored["dry_run"]),
            rate=self.rate if self.rate is not None else stored.get("rate"),
        )


def default_mode() -> str:
    """``enqueue`` with a real Celery broker; eager or ``memory://`` has no worker to share."""
    from celery import current_app

    celery_conf = current_app.conf
    broker = str(celery_conf.broker_url or "")
    if celery_conf.task_always_eager or not broker or broker.startswith("memory"):
        return INLINE
    return ENQUEUE
