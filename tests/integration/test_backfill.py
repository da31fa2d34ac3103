"""``meisa_backfill --enqueue`` across two Celery worker processes on PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tests.integration.processes import wait_until
from tests.integration.site import Site

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

USERS = 120

# bulk_create sends no post_save: these users exist before django-meisa ever heard of them.
PRE_EXISTING_USERS = """
User.objects.bulk_create(
    User(username=f"old{{i}}", email=f"old{{i}}@example.com", job_title="imported")
    for i in range({count})
)
"""

BACKFILL = """
import io
out = io.StringIO()
call_command("meisa_backfill", "--enqueue", "--chunk-size", "10", stdout=out, stderr=out)
result = out.getvalue()
"""


def test_enqueued_backfill_is_shared_by_two_workers_and_sends_each_user_once(
    site: Site,
) -> None:
    site.shell.run(PRE_EXISTING_USERS.format(count=USERS))
    w1 = site.start_worker("w1", concurrency=1, wait=False)
    w2 = site.start_worker("w2", concurrency=1)

    site.shell.run(BACKFILL, timeout=120)

    wait_until(lambda: len(site.meisa.contacts()) == USERS, 120, "every user in Meisa")
    upserts = site.meisa.upserts()
    assert sorted(u["email"] for u in upserts) == sorted(
        f"old{i}@example.com" for i in range(USERS)
    )
    assert {u["source"] for u in upserts} == {"initial_sync"}
    for worker in (w1, w2):
        handled = re.findall(r"Task django_meisa\.tasks\.\w*backfill\w*\[", worker.output())
        assert handled, f"{worker.name} took no backfill chunk:\n{worker.tail()}"
