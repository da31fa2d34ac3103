"""Subscriptions: the plan a user pays for. Saving one syncs its user to Meisa."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Plan(models.TextChoices):
    """The product's plans; every plan but ``free`` is paid."""

    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    PRO = "pro", "Pro"


class BillingCycle(models.TextChoices):
    """How often a paid plan is billed."""

    MONTHLY = "monthly", "Monthly"
    ANNUAL = "annual", "Annual"


class Subscription(models.Model):
    """A user's subscription: upgrades, downgrades and churn are saves of this row.

    django-meisa hears those saves through ``MEISA["SYNC_TRIGGERS"] =
    {"billing.Subscription": "user"}``; nothing in this app calls django-meisa.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    billing_cycle = models.CharField(
        max_length=10, choices=BillingCycle.choices, default=BillingCycle.MONTHLY
    )
    started_at = models.DateTimeField(default=timezone.now)
    canceled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.user} on {self.plan} ({self.billing_cycle})"

    @property
    def is_active(self):
        """False once the subscription was canceled (the user churned)."""
        return self.canceled_at is None

    def change_plan(self, plan, billing_cycle=None):
        """Move to ``plan`` (an upgrade or a downgrade), reactivating a canceled one."""
        self.plan = plan
        self.billing_cycle = billing_cycle or self.billing_cycle
        self.canceled_at = None
        self.started_at = timezone.now()
        self.save()

    def cancel(self):
        """Churn: the user drops to the free plan at once."""
        self.canceled_at = timezone.now()
        self.save()
