"""Models the test suite syncs: a profile and a subscription tied to the user."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models


class Profile(models.Model):
    """Product data kept one-to-one with the user, as a site would."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    plan = models.CharField(max_length=20, default="free")
    billing_cycle = models.CharField(max_length=20, blank=True)
    signin_count = models.PositiveIntegerField(default=0)
    onboarding_completed = models.BooleanField(default=False)
    country = models.CharField(max_length=2, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    ideas_generated = models.PositiveIntegerField(default=0)
    posts_generated = models.PositiveIntegerField(default=0)
    referral_source = models.CharField(max_length=50, blank=True)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"


class Subscription(models.Model):
    """A billing record: saving or deleting one must resync its user (SYNC_TRIGGERS)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    plan = models.CharField(max_length=20)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.plan} subscription of {self.user_id}"


if settings.AUTH_USER_MODEL == "auth.User":  # a swapped-out model can't be proxied

    class Member(User):
        """A proxy of the user model: its saves must sync like the user's own."""

        class Meta:
            proxy = True
