"""The example site's pages: home, sign up, product activity, plan, test email."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.mail import EmailMessage
from django.db.models import F
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import PlanForm, SignupForm, TestEmailForm
from billing.models import Plan, Subscription

ACTIVITY_FIELDS = {"idea": "ideas_generated", "post": "posts_generated"}


def home(request):
    """The dashboard for a signed-in user; an introduction otherwise."""
    context = {}
    if request.user.is_authenticated:
        subscription = request.user.subscription_or_none
        context = {
            "plan_form": PlanForm(
                initial={
                    "plan": request.user.plan,
                    "billing_cycle": subscription.billing_cycle if subscription else "monthly",
                }
            ),
            "email_form": TestEmailForm(initial={"to": request.user.email}),
            # django-meisa's per-user record of the last sync (absent before the first).
            "sync_state": getattr(request.user, "meisa_sync_state", None),
        }
    return render(request, "accounts/home.html", context)


def signup(request):
    """Create an account on the free plan and sign in: Meisa gets one ``signup`` upsert."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        Subscription.objects.create(user=user, plan=Plan.FREE)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}! Meisa now has your contact.")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
@require_POST
def activity(request, kind):
    """Record product usage (an idea, a post, finishing onboarding); the save syncs."""
    user = request.user
    if kind == "onboarding":
        user.onboarding_completed = True
        user.save(update_fields=["onboarding_completed"])
    elif kind in ACTIVITY_FIELDS:
        field = ACTIVITY_FIELDS[kind]
        setattr(user, field, F(field) + 1)
        user.save(update_fields=[field])
    messages.success(request, f"Recorded: {kind}.")
    return redirect("home")


@login_required
@require_POST
def change_plan(request):
    """Upgrade, downgrade or cancel (plan ``free``): a Subscription save, synced by
    ``MEISA["SYNC_TRIGGERS"]``."""
    form = PlanForm(request.POST)
    if form.is_valid():
        subscription, _ = Subscription.objects.get_or_create(user=request.user)
        if form.cleaned_data["plan"] == Plan.FREE:
            subscription.cancel()
        else:
            subscription.change_plan(form.cleaned_data["plan"], form.cleaned_data["billing_cycle"])
        messages.success(request, f"You are now on the {request.user.plan} plan.")
    return redirect("home")


@login_required
@require_POST
def send_test_email(request):
    """Send one email through the suppression wrapper and say whether it went out."""
    form = TestEmailForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid email address.")
        return redirect("home")
    to = form.cleaned_data["to"]
    message = EmailMessage(
        "A test email from the django-meisa example",
        "If you can read this, the address is not on Meisa's do-not-email list.",
        to=[to],
    )
    if message.send():
        messages.success(request, f"Sent a test email to {to}.")
    else:
        messages.warning(request, f"Not sent: {to} is on the suppression list.")
    return redirect("home")
