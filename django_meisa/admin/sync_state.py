"""Admin for per-user contact sync state: read-only status, and "sync now" for permitted staff."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, QuerySet
from django.db.models.functions import Lower
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from django_meisa.contacts.preview import preview_contact
from django_meisa.contacts.requests import request_sync
from django_meisa.contacts.worker import sync_contact_now
from django_meisa.exceptions import MeisaError
from django_meisa.models import UserSyncState
from django_meisa.stats import meisa_stats, shared_contact_rows

SYNC_PERMISSION = "django_meisa.sync_usersyncstate"
#: Selections up to this size are synced inside the admin request; larger ones are queued.
INLINE_SYNC_LIMIT = 25


class SyncStatusFilter(admin.SimpleListFilter):
    """Filter rows by ``UserSyncState.status`` (pending / failed / synced)."""

    title = _("sync status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("pending", _("Pending")), ("failed", _("Failed")), ("synced", _("Up to date"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "pending":
            return queryset.pending()  # type: ignore[attr-defined]
        if self.value() == "failed":
            return queryset.filter(failed_version=F("version"))
        if self.value() == "synced":
            return queryset.filter(synced_version__gte=F("version"))
        return queryset


class SharedContactFilter(admin.SimpleListFilter):
    """Users whose Meisa contact another user also has (two users, one email)."""

    title = _("Meisa contact")
    parameter_name = "contact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("shared", _("Shared with another user")),
            ("email", _("Same email as another user")),
            ("changed", _("Changed at the latest sync")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "shared":
            return queryset.filter(pk__in=shared_contact_rows().values("pk"))
        if self.value() == "email":
            return same_email_rows(queryset)
        if self.value() == "changed":
            return queryset.exclude(previous_contact_id="")
        return queryset


@admin.register(UserSyncState)
class UserSyncStateAdmin(admin.ModelAdmin):
    """Read-only per-user sync status. The API key is never part of this model."""

    list_display = [
        "user",
        "status",
        "last_synced_at",
        "last_result",
        "meisa_status",
        "attempts",
        "short_error",
    ]
    list_filter = [SyncStatusFilter, SharedContactFilter, "last_result", "meisa_status"]
    list_select_related = ["user"]
    ordering = ["-pk"]
    actions = ["sync_now"]
    exclude = ["lease_token"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in UserSyncState._meta.fields if f.name != "lease_token"]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        user_model = get_user_model()
        email = getattr(user_model, "EMAIL_FIELD", "email")
        return [f"user__{user_model.USERNAME_FIELD}", f"user__{email}", "contact_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows are created by the sync itself

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_sync_permission(self, request: HttpRequest) -> bool:
        """May the user trigger syncs (the ``sync_usersyncstate`` permission)?"""
        return bool(request.user.has_perm(SYNC_PERMISSION))

    @admin.display(description=_("last error"))
    def short_error(self, obj: UserSyncState) -> str:
        return obj.last_error[:80]

    @admin.action(description=_("Sync selected users to Meisa now"), permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Sync the selection: inline when small (with results), else queued for the worker."""
        pks = list(queryset.values_list("user_id", flat=True))
        if len(pks) > INLINE_SYNC_LIMIT:
            queue_forced_syncs(pks)
            message = ngettext(
                "%(count)d user queued for sync.", "%(count)d users queued for sync.", len(pks)
            )
            self.message_user(request, message % {"count": len(pks)}, messages.SUCCESS)
            return
        for pk in pks:
            self.report(request, pk, sync_user_now(pk))

    def report(self, request: HttpRequest, user_pk: Any, result: str) -> None:
        """Show one user's sync result as an admin message."""
        level = messages.ERROR if result.startswith("failed") else messages.SUCCESS
        self.message_user(
            request, _("User %(pk)s: %(result)s") % {"pk": user_pk, "result": result}, level
        )

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(require_POST(self.sync_view))
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<path:object_id>/sync/", view, name=f"{prefix}_sync"),
            path("<path:object_id>/preview/", preview, name=f"{prefix}_preview"),
            *super().get_urls(),
        ]

    def state_or_404(self, request: HttpRequest, object_id: str) -> Any:
        """The row named in the URL; 404 (never a 500) for a pk its field can't parse."""
        state = self.get_object(request, unquote(object_id))
        if state is None:
            raise Http404(_("No such sync state."))
        return state

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the exact JSON the next upsert of this user would send; sends nothing."""
        state = self.state_or_404(request, object_id)
        if not self.has_view_permission(request, state):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": state,
            "preview": preview_contact(state.user),
            "title": _("Preview of the next upsert"),
        }
        return TemplateResponse(request, "admin/django_meisa/usersyncstate/preview.html", context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {**(extra_context or {}), "meisa_stats": meisa_stats()}
        return super().changelist_view(request, extra_context=context)

    def sync_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST-only "Sync now" button of one row's page."""
        if not self.has_sync_permission(request):
            raise PermissionDenied
        state = self.state_or_404(request, object_id)
        self.report(request, state.user_id, sync_user_now(state.user_id))
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        return HttpResponseRedirect(reverse(change, args=[state.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only: a Save button would promise an edit that can't happen.
        context = {
            **(extra_context or {}),
            "can_sync": self.has_sync_permission(request),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)


def sync_user_now(user_pk: Any) -> str:
    """Force one user's sync in this request; return the outcome or the error's type."""
    try:
        return str(sync_contact_now(user_pk, force=True).result)
    except MeisaError as err:
        # The message text is safe, but the type is all staff need here.
        return f"failed ({type(err).__name__}); it will be retried"


def queue_forced_syncs(pks: list[Any]) -> None:
    """Queue syncs that will really send: forget the fingerprints, then request them."""
    UserSyncState.objects.filter(user_id__in=pks).update(payload_fingerprint="")
    for pk in pks:
        request_sync(pk)


def same_email_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Rows whose user's email (case-insensitive) another user also has: one Meisa contact
    (Meisa matches an upsert by email after external_id), found before any sync."""
    model = get_user_model()
    field = model.get_email_field_name()
    shared = (
        model._default_manager.exclude(**{field: ""})
        .annotate(key=Lower(field))
        .values("key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("key")
    )
    return queryset.annotate(email_key=Lower(f"user__{field}")).filter(email_key__in=shared)
