"""Every way an address enters the mirror retires every negative cache at once.

Each test builds the filter (a process that has been filtering for a while), writes the
address through one path (a refresh, a local entry, an upsert's status, the admin, a
site's own ORM write, or any of them in another process) and sends to it at once through
the email backend: it must be dropped. Without the generation bump in that path, the
filter would say "certainly not suppressed" and the message would go out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.db import connection
from django.urls import reverse

from django_meisa.suppression import negative_cache

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "written@example.com"


@pytest.fixture
def filtering(settings, loaded_mirror):
    """The wrapper around locmem with the cache on, a filter built for the current
    mirror, and the ORM safety net connected (as the app's ready() does)."""
    from django.db.models.signals import post_delete, post_save

    from django_meisa.models import SuppressedEmail

    settings.EMAIL_BACKEND = "django_meisa.backends.SuppressionEmailBackend"
    settings.MEISA = {
        **settings.MEISA,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SUPPRESSION_NEGATIVE_CACHE": True,
    }
    connected = any(r[0][0] == "meisa_generation_save" for r in post_save.receivers)
    negative_cache.connect_receivers()
    negative_cache.cache.clear()
    negative_cache.bump_generation("default")
    assert negative_cache.cache.rebuild("default") is not None
    assert negative_cache.cache.lookup([ADDRESS], "default", 2000) == set()  # filter is live
    yield
    negative_cache.cache.clear()
    if not connected:
        post_save.disconnect(sender=SuppressedEmail, dispatch_uid="meisa_generation_save")
        post_delete.disconnect(sender=SuppressedEmail, dispatch_uid="meisa_generation_del")


def delivered_to(address: str) -> bool:
    """Send one message to ``address`` (and a bystander) now; True if it reached it."""
    mail.outbox = []
    message = EmailMessage("Hi", "Body", "site@example.com", [address, "ok@example.com"])
    mail.get_connection().send_messages([message])
    return any(address in m.recipients() for m in mail.outbox)


def test_a_refresh(filtering, meisa_fake):
    from django_meisa.suppression import refresh_suppressions

    meisa_fake.add_unsubscribed(ADDRESS)
    assert refresh_suppressions().ok
    assert not delivered_to(ADDRESS)


def test_a_local_entry(filtering):
    from django_meisa.suppression.local import suppress_locally

    suppress_locally(ADDRESS, "asked by phone")
    assert not delivered_to(ADDRESS)


def test_a_status_from_an_upsert(filtering):
    from django_meisa.suppression.status import suppress_contact_status

    suppress_contact_status(ADDRESS, "bounced")
    assert not delivered_to(ADDRESS)


def test_the_admin(filtering, admin_client):
    add = reverse("admin:django_meisa_suppressedemail_add")
    assert admin_client.post(add, {"email": ADDRESS, "reason": "staff"}).status_code == 302
    assert not delivered_to(ADDRESS)


def test_a_sites_own_orm_write(filtering):
    from django_meisa.models import SuppressedEmail

    SuppressedEmail.objects.create(email=ADDRESS, source="local")
    assert not delivered_to(ADDRESS)


def test_the_bystander_is_still_delivered(filtering):
    assert delivered_to("ok@example.com")


WRITER = """
import json, os, sys
import django
import tests.settings
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
tests.settings.DATABASES["default"].update(json.loads(sys.argv[2]))
django.setup()
from django_meisa.suppression.local import suppress_locally
from django_meisa.suppression.status import suppress_contact_status
if sys.argv[1] == "local":
    suppress_locally("written@example.com", "another process")
else:
    suppress_contact_status("written@example.com", "complained")
"""


@pytest.mark.parametrize("path", ["local", "status"])
def test_a_write_in_another_process(filtering, path):
    if "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a database two processes share (a file or a server)")
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    database = {k: connection.settings_dict[k] for k in keys}  # the role's password too
    argv = [sys.executable, "-c", WRITER, path, json.dumps(database)]
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert not delivered_to(ADDRESS)
