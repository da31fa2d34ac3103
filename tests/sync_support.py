"""Helpers shared by the contact sync tests: waiting on the worker, settings, users."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model

from django_meisa.models import UserSyncState

#: The production example of the Meisa docs, in settings alone (tests.testapp.Profile).
PRODUCTION_FIELDS = {
    "plan": "profile.plan",
    "billing_cycle": "profile.billing_cycle",
    "signup_date": "date_joined",
    "last_active": "last_login",
    "signin_count": "profile.signin_count",
    "onboarding_completed": "profile.onboarding_completed",
    "country": "profile.country",
    "job_title": "profile.job_title",
    "ideas_generated": "profile.ideas_generated",
    "posts_generated": "profile.posts_generated",
    "referral_source": "profile.referral_source",
}


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def state_of(user: Any) -> UserSyncState:
    """Return the user's sync state row, fresh from the database."""
    return UserSyncState.objects.get(user_id=getattr(user, "pk", user))


def settled(user: Any) -> bool:
    """True when the user's latest requested version has been handled (or failed)."""
    state = UserSyncState.objects.filter(user_id=getattr(user, "pk", user)).first()
    return state is not None and not state.is_pending and state.lease_until is None


def make_user(username: str = "ada", email: str | None = None, **extra: Any) -> Any:
    """Create a user (a signup, as far as django-meisa is concerned)."""
    email = f"{username}@example.com" if email is None else email
    return get_user_model().objects.create_user(
        username=username, email=email, password="pw-12345", **extra
    )


def acquire_lease(user_pk: Any) -> Any:
    """Take the user's sync lease as another worker would; None when it is held."""
    from django_meisa.contacts.state import ensure_rows, state_alias, sync_lease

    alias = state_alias()
    ensure_rows(alias, [user_pk])
    lease = sync_lease(alias, [user_pk])
    return lease if lease.take() else None
