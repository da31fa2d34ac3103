"""Backfill checkpoints: one row per run, one per chunk of users, one per failed user."""

from __future__ import annotations

from typing import Any

from django.db import models, router
from django.utils.translation import gettext_lazy as _

__all__ = ["BackfillChunk", "BackfillFailure", "BackfillRun"]


class PrimaryManager(models.Manager[Any]):
    """Reads on the router's write alias: a checkpoint is read right after it is written
    (by the command, the workers and the admin), which a replica may not have yet."""

    def get_queryset(self) -> models.QuerySet[Any]:
        return super().get_queryset().using(router.db_for_write(self.model))


class BackfillRun(models.Model):
    """One ``meisa_backfill`` run: its options, where selection reached, and its status.

    ``cursor_pk`` is the keyset cursor: every selected user with a primary key up to it
    belongs to a chunk of this run. Counters live on the chunks, so a run's totals are
    the sum of its finished chunks and a resumed run never counts a user twice.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        INTERRUPTED = "interrupted", _("interrupted")
        FINISHED = "finished", _("finished")

    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    mode = models.CharField(_("mode"), max_length=16)
    options = models.JSONField(
        _("options"), default=dict, help_text=_("The selection and sending options, for --resume.")
    )
    cursor_pk = models.CharField(_("selected through pk"), max_length=64, blank=True)
    selection_done = models.BooleanField(_("selection done"), default=False)
    error = models.TextField(
        _("error"), blank=True, help_text=_("Why the run stopped early (a bad key, a redirect).")
    )

    objects = PrimaryManager()

    class Meta:
        verbose_name = _("backfill run")
        verbose_name_plural = _("backfill runs")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"backfill #{self.pk} ({self.status})"


class BackfillChunk(models.Model):
    """A contiguous primary-key range of selected users, processed as one unit.

    A chunk is ``pending`` until a runner claims it (``claimed_until`` is a lease, so a
    crashed worker's chunk can be claimed again), and ``done`` once its outcome counts
    and failures are recorded, in the same transaction.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="chunks")
    first_pk = models.CharField(_("first pk"), max_length=64)
    last_pk = models.CharField(_("last pk"), max_length=64)
    size = models.PositiveIntegerField(_("users selected"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    synced = models.PositiveIntegerField(_("synced"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged, skipped"), default=0)
    no_email = models.PositiveIntegerField(_("no email, skipped"), default=0)
    suppressed = models.PositiveIntegerField(_("suppressed, skipped"), default=0)
    ineligible = models.PositiveIntegerField(_("ineligible, skipped"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = PrimaryManager()

    class Meta:
        verbose_name = _("backfill chunk")
        verbose_name_plural = _("backfill chunks")
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "first_pk"], name="meisa_backfill_chunk_start")
        ]

    def __str__(self) -> str:
        return f"chunk {self.first_pk}..{self.last_pk} of run #{self.run_id}"


class BackfillFailure(models.Model):
    """A user a run could not sync: the primary key and the reason, no personal data."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="failures")
    user_pk = models.CharField(_("user pk"), max_length=64)
    reason = models.TextField(_("reason"))

    objects = PrimaryManager()

    class Meta:
        verbose_name = _("backfill failure")
        verbose_name_plural = _("backfill failures")
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "user_pk"], name="meisa_backfill_failure_user")
        ]

    def __str__(self) -> str:
        return f"user {self.user_pk}: {self.reason}"
