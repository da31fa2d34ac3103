"""Counts sign-ins: one atomic increment per login."""

from django.db.models import F


def count_signin(sender, request, user, **kwargs):
    """``user_logged_in`` receiver: add one to ``user.signin_count``.

    A queryset update, so concurrent logins never lose a count and no extra
    ``post_save`` fires. django-meisa's own login receiver runs after this one and
    syncs last_login and the new count in a single upsert.
    """
    type(user).objects.filter(pk=user.pk).update(signin_count=F("signin_count") + 1)
    user.signin_count = (user.signin_count or 0) + 1
