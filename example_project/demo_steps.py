"""The steps of ``demo.py``: each drives the site or a command, then checks what Meisa got.

Every step takes the ``Walkthrough`` (printing and scoring) and a shared ``context``
dict. The first line of a step's docstring is its heading.
"""

import datetime
import html
import io
import json
import re
from urllib.request import Request, urlopen

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_meisa.suppression import is_suppressed

PASSWORD = "demo-password-1234"
PEOPLE = [
    {"username": "ada", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
     "country": "PK", "job_title": "Founder", "referral_source": "twitter"},
    {"username": "grace", "email": "grace@example.com", "first_name": "Grace",
     "last_name": "Hopper", "country": "US", "job_title": "Engineer",
     "referral_source": "newsletter"},
]  # fmt: skip
EARLY_USERS = {
    "alan@example.com": {"first_name": "Alan", "country": "GB", "job_title": "Researcher"},
    "edsger@example.com": {"first_name": "Edsger", "country": "NL", "job_title": "Professor"},
    "barbara@example.com": {"first_name": "Barbara", "country": "US", "job_title": "CTO"},
}
PRODUCTION_FIELDS = {
    "plan", "billing_cycle", "signup_date", "last_active", "signin_count",
    "onboarding_completed", "country", "job_title", "ideas_generated", "posts_generated",
    "referral_source",
}  # fmt: skip


def sign_up(walk, context):
    """Sign up two users on the site's sign-up page"""
    for person in PEOPLE:
        client = Client(HTTP_HOST="localhost")
        walk.say(f"POST /signup/ as {person['email']} ({person['job_title']}, {person['country']})")
        response = client.post("/signup/", {**person, "password1": PASSWORD, "password2": PASSWORD})
        walk.check(response.status_code == 302, "the site created the account and signed in")
        upserts = walk.new_upserts()
        walk.check(len(upserts) == 1, "one upsert: the sign-up and its login commit together")
        body = upserts[-1] if upserts else {}
        fields = body.get("custom_fields", {})
        walk.check(body.get("source") == "signup", "source is 'signup'")
        walk.check(set(fields) == PRODUCTION_FIELDS, "the 11 custom fields of Meisa's example")
        walk.check(str(fields.get("signup_date")).endswith("Z"), "signup_date is ISO 8601 UTC")
        context[person["username"]] = client


def log_in(walk, context):
    """Log in again: last_active and signin_count refreshed in one upsert"""
    client = Client(HTTP_HOST="localhost")
    walk.say("POST /login/ as ada@example.com")
    response = client.post("/login/", {"username": "ada", "password": PASSWORD})
    walk.check(response.status_code == 302, "logged in")
    upserts = walk.new_upserts()
    walk.check(len(upserts) == 1, "exactly one upsert for the login")
    fields = upserts[-1]["custom_fields"] if upserts else {}
    walk.check(fields.get("signin_count") == 2, "signin_count went from 1 to 2")
    walk.check(str(fields.get("last_active")).endswith("Z"), "last_active is ISO 8601 UTC")
    context["ada"] = client


def upgrade(walk, context):
    """Upgrade a plan: custom fields and the paying-customer tag"""
    walk.say("POST /plan/ as ada: plan=pro, billing_cycle=annual (a billing.Subscription save)")
    post(walk, context["ada"], "/plan/", {"plan": "pro", "billing_cycle": "annual"})
    upserts = walk.new_upserts()
    walk.check(len(upserts) == 1, "one upsert, through MEISA['SYNC_TRIGGERS']")
    body = upserts[-1] if upserts else {}
    fields = body.get("custom_fields", {})
    walk.check(fields.get("plan") == "pro", "plan is 'pro'")
    walk.check(fields.get("billing_cycle") == "annual", "billing_cycle is 'annual'")
    walk.check(body.get("tag_names") == ["paying-customer"], "tag_names has 'paying-customer'")
    contact = walk.fake.contact("ada@example.com") or {}
    tags = [tag["name"] for tag in contact.get("tags", [])]
    walk.check(tags == ["paying-customer"], "Meisa's contact now carries the tag")


def meisa_hiccup(walk, context):
    """Meisa fails twice: the sync task retries and nothing is lost"""
    control(context, "faults", {"kind": "server_error", "times": 2, "path": "upsert"})
    walk.say(
        "The local Meisa will answer the next 2 upserts with HTTP 500 (POST /_control/faults)."
    )
    walk.say("POST /activity/onboarding/ as ada (she finishes onboarding)")
    post(walk, context["ada"], "/activity/onboarding/", {})
    failed = [r for r in walk.fake.requests if not r.applied and r.status == 500]
    walk.check(len(failed) == 2, "Meisa answered 500 twice")
    upserts = walk.new_upserts()
    delivered = [u for u in upserts if u["custom_fields"].get("onboarding_completed") is True]
    walk.check(len(delivered) == 1, "the retry delivered onboarding_completed=true, once")
    walk.say("(Celery is eager in the demo, so retries run at once; a worker backs off")
    walk.say("exponentially with jitter, and the sweep picks up whatever still fails.)")


def backfill(walk, context):
    """Backfill: initial_sync for the users who predate django-meisa"""
    from django.contrib.auth import get_user_model

    from billing.models import Subscription

    joined = timezone.now() - datetime.timedelta(days=400)
    with override_settings(MEISA={**settings.MEISA, "ENABLED": False}):
        for email, profile in EARLY_USERS.items():
            user = get_user_model().objects.create_user(
                email.split("@")[0], email, PASSWORD, date_joined=joined, **profile
            )
            Subscription.objects.create(user=user)
    walk.say(f"Created {len(EARLY_USERS)} users with MEISA['ENABLED'] = False: they signed")
    walk.say("up long before the site installed django-meisa.")
    walk.check(not walk.new_upserts(), "Meisa heard nothing about them")
    walk.say("manage.py meisa_backfill --inline")
    out = io.StringIO()
    call_command("meisa_backfill", "--inline", stdout=out, stderr=out)
    for line in out.getvalue().splitlines():
        walk.say(f"  | {line}")
    upserts = walk.new_upserts(compact=True)
    walk.check(sorted(u["email"] for u in upserts) == sorted(EARLY_USERS), "one upsert each")
    sources = {u.get("source") for u in upserts}
    walk.check(sources == {"initial_sync"}, "source is 'initial_sync'; unchanged users skipped")


def suppression(walk, context):
    """Unsubscribe an address in Meisa, refresh, and the wrapper drops it"""
    control(context, "unsubscribe", {"email": "grace@example.com", "status": "unsubscribed"})
    walk.say("grace@example.com unsubscribed in Meisa (POST /_control/unsubscribe).")
    walk.say("manage.py meisa_refresh_suppressions")
    out = io.StringIO()
    call_command("meisa_refresh_suppressions", stdout=out, stderr=out)
    for line in out.getvalue().splitlines():
        walk.say(f"  | {line}")
    walk.check(is_suppressed("grace@example.com"), "SuppressedEmail now lists grace")
    mail.outbox = []  # the real backend behind the wrapper is locmem in the demo
    walk.say("ada presses 'Send me a test email' for grace@example.com, then for herself.")
    for to in ("grace@example.com", "ada@example.com"):
        post(walk, context["ada"], "/email/", {"to": to})
    walk.check([m.to for m in mail.outbox] == [["ada@example.com"]], "only ada's email was sent")
    walk.say("One message to both: EmailMessage(to=[ada, grace]).send()")
    sent = EmailMessage("Hello", "Hi both", to=["ada@example.com", "grace@example.com"]).send()
    delivered = mail.outbox[-1].to if len(mail.outbox) == 2 else []
    walk.check(sent == 1 and delivered == ["ada@example.com"], "delivered to ada only")


def meisa_holds(walk, context):
    """What the local Meisa holds"""
    contacts = control(context, "contacts")
    walk.say(f"GET /_control/contacts: {len(contacts)} contacts")
    walk.say(f"{'email':22} {'source':13} {'status':13} {'plan':8} {'signins':>7}  tags")
    for contact in contacts:
        fields = contact["custom_fields"]
        tags = ",".join(tag["name"] for tag in contact["tags"]) or "-"
        walk.say(
            f"{contact['email']:22} {contact['source']:13} {contact['status']:13} "
            f"{fields.get('plan', '-')!s:8} {fields.get('signin_count', '-')!s:>7}  {tags}"
        )
    walk.check(len(contacts) == len(PEOPLE) + len(EARLY_USERS), "every user is in Meisa")


def post(walk, client, path, data):
    """POST a form as the browser would, and print the messages the next page shows."""
    page = client.post(path, data, follow=True)
    for message in re.findall(r'<li class="[^"]*">([^<]*)</li>', page.content.decode()):
        walk.say(f"The page says: {html.unescape(message)}")
    return page


def control(context, name, body=None):
    """Call the local Meisa's control interface over HTTP; return the decoded answer."""
    url = context["base_url"].replace("/api/v1", "/_control/") + name
    data = None if body is None else json.dumps(body).encode()
    with urlopen(Request(url, data=data, method="POST" if data else "GET"), timeout=5) as reply:  # noqa: S310
        return json.loads(reply.read())


STEPS = [sign_up, log_in, upgrade, meisa_hiccup, backfill, suppression, meisa_holds]
