"""The site's user: Django's user plus the product data Meisa's automations use."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A user of the example product. ``plan`` and ``billing_cycle`` come from billing."""

    email = models.EmailField("email address", unique=True)
    signin_count = models.PositiveIntegerField(default=0)
    onboarding_completed = models.BooleanField(default=False)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code, e.g. PK")
    job_title = models.CharField(max_length=100, blank=True)
    ideas_generated = models.PositiveIntegerField(default=0)
    posts_generated = models.PositiveIntegerField(default=0)
    referral_source = models.CharField(max_length=50, blank=True)

    @property
    def subscription_or_none(self):
        """The user's Subscription, or None for a user who never had one."""
        return getattr(self, "subscription", None)

    @property
    def plan(self):
        """The current plan's code ("free" without a subscription or after churn)."""
        subscription = self.subscription_or_none
        return subscription.plan if subscription and subscription.is_active else "free"

    @property
    def billing_cycle(self):
        """``monthly`` or ``annual`` for a paid plan, None on the free plan."""
        subscription = self.subscription_or_none
        return subscription.billing_cycle if self.plan != "free" else None
