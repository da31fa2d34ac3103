"""Read-only admin for backfill runs: status, totals, unfinished chunks and failed users."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_meisa.backfill.checkpoint import run_counts
from django_meisa.models import BackfillChunk, BackfillFailure, BackfillRun


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows rows and never changes them."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UnfinishedChunkInline(ReadOnlyInline):
    """The run's chunks that are not done: what ``--resume`` would redo."""

    model = BackfillChunk
    verbose_name_plural = _("unfinished chunks")
    fields = readonly_fields = ("first_pk", "last_pk", "size", "claimed_until")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).exclude(status=BackfillChunk.Status.DONE)


class FailureInline(ReadOnlyInline):
    """Failed users: primary key and reason only."""

    model = BackfillFailure
    fields = readonly_fields = ("user_pk", "reason")


@admin.register(BackfillRun)
class BackfillRunAdmin(admin.ModelAdmin):
    """Runs of ``meisa_backfill``, read-only: started with the command, never here."""

    list_display = ("__str__", "mode", "started_at", "finished_at", "synced", "failed")
    list_filter = ("status", "mode")
    fields = readonly_fields = (
        "status", "mode", "started_at", "finished_at", "totals", "options", "cursor_pk",
        "selection_done", "error",
    )  # fmt: skip
    inlines = (UnfinishedChunkInline, FailureInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("synced"))
    def synced(self, run: BackfillRun) -> int:
        """Users synced by the run's finished chunks."""
        return run_counts(run).synced

    @admin.display(description=_("failed"))
    def failed(self, run: BackfillRun) -> int:
        """Users the run's finished chunks could not sync."""
        return run_counts(run).failed

    @admin.display(description=_("totals"))
    def totals(self, run: BackfillRun) -> str:
        """Every outcome count of the run's finished chunks."""
        return ", ".join(f"{name}: {n}" for name, n in run_counts(run).as_dict().items())
