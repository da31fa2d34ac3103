"""Admin for subscriptions: edits here sync the user to Meisa like the site's pages do."""

from django.contrib import admin

from billing.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscriptions, searchable by the user's email."""

    list_display = ("user", "plan", "billing_cycle", "started_at", "canceled_at")
    list_filter = ("plan", "billing_cycle")
    search_fields = ("user__email", "user__username")
    raw_id_fields = ("user",)
