"""Admin for the suppression list, its refresh state and the address checker."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models import Case, F, QuerySet, Subquery, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.stats import refresh_state
from django_meisa.suppression import explain_address, refresh_suppressions
from django_meisa.suppression.addresses import canonical_key, why_no_key
from django_meisa.suppression.freshness import MirrorFreshness, describe, max_age
from django_meisa.suppression.local import remove_local_entries
from django_meisa.suppression.negative_cache import bump_generation

REFRESH_PERMISSION = "django_meisa.refresh_suppressedemail"
HANDED_OVER = _(
    "%(n)d entries are on Meisa's list too: they stay suppressed, now as Meisa entries."
)


class LocalEntryForm(forms.ModelForm):
    """Adds a ``local`` entry: exactly one address, stored under its canonical key.

    ``"Jane <jane@example.com>"`` is stored as ``jane@example.com`` (the key every
    lookup uses); a value that isn't exactly one address is refused, saying why.
    """

    class Meta:
        model = SuppressedEmail
        fields = ["email", "reason"]

    def clean_email(self) -> str:
        text = self.cleaned_data["email"]
        key = canonical_key(text)
        if key is None:
            raise forms.ValidationError(
                _("Not saved: %(why)s"), params={"why": why_no_key(text)}, code="invalid"
            )
        existing = SuppressedEmail.objects.filter(email=key).exclude(pk=self.instance.pk)
        if existing.exists():
            raise forms.ValidationError(_("%(key)s is already suppressed."), params={"key": key})
        return key


class CheckAddressForm(forms.Form):
    address = forms.CharField(
        label=_("Address"),
        max_length=1000,
        help_text=_("As you would send to it, with or without a display name."),
    )


@admin.register(SuppressedEmail)
class SuppressedEmailAdmin(admin.ModelAdmin):
    """The mirror, read-only for ``meisa`` rows; staff may add and remove ``local`` ones."""

    form = LocalEntryForm
    list_display = ["email", "source", "reason", "first_seen", "confirmed"]
    list_filter = ["source"]
    search_fields = ["email"]
    list_per_page = 100
    show_full_result_count = False  # counting a million rows per page view is wasteful
    readonly_fields = [
        "source",
        "first_seen",
        "confirmed",
        "withheld_last_listed",
        "meisa_lists_too",
        "reported_at",
    ]
    actions = ["delete_local_entries"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SuppressedEmail]:
        """The rows, annotated with ``confirmed_at`` (see ``SuppressedEmail``)."""
        # A row the latest list had was confirmed at the state row's as_of: one subquery.
        state = SuppressionRefreshState.objects.filter(pk=SuppressionRefreshState.SINGLETON_PK)
        listed = {"source": SuppressedEmail.Source.MEISA, "reported_at__isnull": True}
        confirmed = Case(
            When(**listed, withheld_last_listed__isnull=False, then=F("withheld_last_listed")),
            When(**listed, then=Subquery(state.values("as_of")[:1])),
            default=None,
        )
        return super().get_queryset(request).annotate(confirmed_at=confirmed)

    @admin.display(description=_("last confirmed by Meisa"), ordering="confirmed_at")
    def confirmed(self, obj: SuppressedEmail) -> Any:
        return getattr(obj, "confirmed_at", None) or "—"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[SuppressedEmail], search_term: str
    ) -> tuple[QuerySet[SuppressedEmail], bool]:
        # Also match the normalized form, so "Ada@Bücher.de" finds "ada@xn--bcher-kva.de".
        results, duplicates = super().get_search_results(request, queryset, search_term)
        key = canonical_key(search_term)
        if key and key != search_term.strip():
            results = results | queryset.filter(email__contains=key)
        return results, duplicates

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["email", "reason"]
        # Each row shows the listing mark its source can carry (see SuppressedEmail).
        mark = "meisa_lists_too" if _local(obj) else "withheld_last_listed"
        return ["email", "source", "reason", "first_seen", "confirmed", mark, "reported_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        frozen = ["email"] if _local(obj) else ["email", "reason"]  # a local row's note is editable
        return [*frozen, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.source = SuppressedEmail.Source.LOCAL
        using = router.db_for_write(SuppressedEmail)
        with transaction.atomic(using=using):
            super().save_model(request, obj, form, change)
            bump_generation(using)  # every process's negative cache must re-check

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only ``local`` rows are editable (their note); Meisa's belong to the refresh."""
        return _local(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only ``local`` rows can be deleted; a refresh alone removes Meisa's rows."""
        return _local(obj) and super().has_delete_permission(request, obj)

    @admin.action(description=_("Delete selected local entries"), permissions=["delete"])
    def delete_local_entries(self, request: HttpRequest, queryset: QuerySet) -> None:
        skipped = queryset.exclude(source=SuppressedEmail.Source.LOCAL).count()
        deleted, handed = remove_local_entries(queryset)
        self.message_user(request, _("Deleted %(n)d local entries.") % {"n": deleted})
        if handed:
            self.message_user(request, HANDED_OVER % {"n": handed}, messages.WARNING)
        if skipped:
            self.message_user(
                request,
                _("Skipped %(n)d Meisa entries: only a refresh removes them.") % {"n": skipped},
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Delete a local row, or hand it to Meisa when Meisa wants it suppressed too."""
        _deleted, handed = remove_local_entries(SuppressedEmail.objects.filter(pk=obj.pk))
        if handed:
            self.message_user(request, HANDED_OVER % {"n": handed}, messages.WARNING)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Same rule as ``delete_model``, for Django's bulk delete."""
        remove_local_entries(queryset)

    # Extra pages --------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("refresh/", view(require_POST(self.refresh_view)), name="meisa_refresh"),
            path("check/", view(self.check_view), name="meisa_check_address"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """The list, with the refresh-state panel and the "refresh now" form above it."""
        state = refresh_state()
        health = MirrorFreshness(state.last_success_at if state else None, max_age())
        context = {
            **(extra_context or {}),
            "meisa_state": state,
            "meisa_banner": None if health.loaded and not health.stale else describe(health),
            "meisa_can_refresh": request.user.has_perm(REFRESH_PERMISSION),
        }
        return super().changelist_view(request, extra_context=context)

    def refresh_view(self, request: HttpRequest) -> HttpResponse:
        """Run a refresh inline and report its outcome (needs the refresh permission)."""
        if not request.user.has_perm(REFRESH_PERMISSION):
            raise PermissionDenied
        result = refresh_suppressions(force=request.POST.get("force") == "1")
        if result.error:
            text, level = (
                _("Refresh failed; the list is unchanged: %s") % result.error,
                messages.ERROR,
            )
        elif result.skipped:
            text, level = _("Refresh skipped: %s.") % result.skipped_reason, messages.WARNING
        elif result.withheld:
            warning = _("Refreshed with deletions WITHHELD (the list shrank suspiciously): %s")
            text, level = warning % result.summary(), messages.WARNING
        else:
            text, level = _("Refreshed: %s") % result.summary(), messages.SUCCESS
        self.message_user(request, text, level)
        if result.rejected:
            self.message_user(
                request,
                _("%(n)d entries of Meisa's list were rejected (not one storable address).")
                % {"n": result.rejected},
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:django_meisa_suppressedemail_changelist"))

    def check_view(self, request: HttpRequest) -> HttpResponse:
        """Say whether an address would be suppressed, and why (needs the view permission)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = CheckAddressForm(request.GET or None)
        verdict = explain_address(form.cleaned_data["address"]) if form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Check an address"),
            "form": form,
            "verdict": verdict,
        }
        return TemplateResponse(
            request, "admin/django_meisa/suppressedemail/check_address.html", context
        )


def _local(row: SuppressedEmail | None) -> bool:
    # No row (the changelist) or a staff-added one: Meisa's rows belong to the refresh.
    return row is None or row.source == SuppressedEmail.Source.LOCAL
