"""The billing app: one subscription per user."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Billing. Its Subscription reaches Meisa through MEISA["SYNC_TRIGGERS"]."""

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"
