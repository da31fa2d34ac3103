"""Admin for the custom user: Django's UserAdmin plus the product fields."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class ExampleUserAdmin(UserAdmin):
    """The user admin, with the fields django-meisa sends to Meisa."""

    list_display = ("username", "email", "plan", "signin_count", "date_joined", "last_login")
    fieldsets = (
        *UserAdmin.fieldsets,
        (
            "Product",
            {
                "fields": (
                    "signin_count",
                    "onboarding_completed",
                    "country",
                    "job_title",
                    "ideas_generated",
                    "posts_generated",
                    "referral_source",
                )
            },
        ),
    )
