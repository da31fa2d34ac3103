"""The accounts app: the site's custom user model and its sign-in counter."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Connects the sign-in counter (before django_meisa's receivers, by app order)."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from accounts.receivers import count_signin

        user_logged_in.connect(count_signin, dispatch_uid="accounts.count_signin")
