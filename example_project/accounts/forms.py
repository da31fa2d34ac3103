"""Forms of the example site's pages."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User
from billing.models import BillingCycle, Plan


class SignupForm(UserCreationForm):
    """Sign up with the profile fields Meisa's automations use."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = (
            "username",
            "email",
            "first_name",
            "last_name",
            "country",
            "job_title",
            "referral_source",
        )


class PlanForm(forms.Form):
    """Change plan: a paid plan upgrades or downgrades, ``free`` cancels (churn)."""

    plan = forms.ChoiceField(choices=Plan.choices)
    billing_cycle = forms.ChoiceField(choices=BillingCycle.choices, required=False)


class TestEmailForm(forms.Form):
    """Send a test email, through the suppression wrapper, to any address."""

    to = forms.EmailField(label="Send a test email to")
