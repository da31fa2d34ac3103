"""Contact sync on real parts: PostgreSQL, Celery worker processes, Meisa over HTTP.

The site is driven the way a site is driven (saves, a real login through the test
client, a rolled-back transaction, a plan change); the assertions are on what the
local Meisa received.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.processes import wait_until
from tests.integration.services import MEISA_KEY, LocalMeisa
from tests.integration.site import Site

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LIFE_OF_ADA = """
from billing.models import Subscription

ada = User.objects.create_user("ada", "ada@example.com", "pw-ada-123", first_name="Ada")
ada.job_title = "Founder"
ada.country = "PK"
ada.save()
assert Client().login(username="ada", password="pw-ada-123")
try:
    with transaction.atomic():
        User.objects.filter(pk=ada.pk).update(country="XX")
        ada.refresh_from_db()
        ada.job_title = "Never committed"
        ada.save()
        raise RuntimeError("roll back")
except RuntimeError:
    pass
Subscription.objects.create(user=ada, plan="pro", billing_cycle="annual")
result = ada.pk
"""


def contact_when(meisa: LocalMeisa, email: str, **fields: Any) -> dict[str, Any] | None:
    """Meisa's contact for ``email`` once its custom fields include ``fields``."""
    contact = meisa.contacts().get(email)
    if contact is None:
        return None
    custom = contact.get("custom_fields", {})
    return contact if all(custom.get(k) == v for k, v in fields.items()) else None


def assert_life_of_ada_reached_meisa(site: Site) -> None:
    """Run the signup-to-upgrade story and check Meisa holds the latest committed state."""
    pk = site.shell.run(LIFE_OF_ADA)
    contact: Any = wait_until(
        lambda: contact_when(site.meisa, "ada@example.com", plan="pro", signin_count=1),
        timeout=60,
        what="Ada's upgrade and login to reach Meisa",
    )
    upserts = [u for u in site.meisa.upserts() if u["email"] == "ada@example.com"]
    assert contact["external_id"] == str(pk)
    assert contact["source"] == "signup"  # the first upsert's source is kept
    assert contact["custom_fields"]["billing_cycle"] == "annual"
    assert contact["custom_fields"]["job_title"] == "Founder"
    assert contact["custom_fields"]["country"] == "PK"
    assert contact["custom_fields"]["last_active"].endswith("Z")
    assert "paying-customer" in {tag["name"] for tag in contact["tags"]}
    # The rolled-back transaction never reached Meisa, not even for a moment.
    assert all(u.get("custom_fields", {}).get("country") != "XX" for u in upserts)
    assert all(u.get("custom_fields", {}).get("job_title") != "Never committed" for u in upserts)
    logs = [process.output() for process in site.processes]
    assert all(MEISA_KEY not in log for log in [*logs, site.shell.log_path.read_text()])


def test_a_users_life_reaches_meisa_over_redis(site: Site) -> None:
    site.start_worker("w1")

    assert_life_of_ada_reached_meisa(site)


def test_a_users_life_reaches_meisa_over_rabbitmq(make_site: Any, rabbitmq_broker: str) -> None:
    site = make_site(rabbitmq_broker)
    site.start_worker("w1")

    assert_life_of_ada_reached_meisa(site)


def test_a_login_is_one_upsert_with_the_new_counters(site: Site) -> None:
    site.start_worker("w1")
    site.shell.run('User.objects.create_user("bob", "bob@example.com", "pw-bob-123")')
    wait_until(lambda: contact_when(site.meisa, "bob@example.com"), 30, "Bob's signup")
    before = len(site.meisa.upserts())

    site.shell.run('assert Client().login(username="bob", password="pw-bob-123")')
    contact: Any = wait_until(
        lambda: contact_when(site.meisa, "bob@example.com", signin_count=1), 30, "the login"
    )

    assert contact["custom_fields"]["last_active"] is not None
    wait_until(lambda: site.shell.run(PENDING_COUNT) == 0, 30, "no pending syncs")
    assert len(site.meisa.upserts()) == before + 1


PENDING_COUNT = """
from django.db.models import F
from django_meisa.models import UserSyncState
result = UserSyncState.objects.filter(version__gt=F("synced_version")).count()
"""
