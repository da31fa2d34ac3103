"""Faults on real parts, with "nothing lost" as the assertion.

A broker that dies during saves, a worker SIGKILLed mid-request, and a Meisa that
fails in bursts or hangs: afterwards every user's latest committed state is in Meisa,
and the recovery did not flood Meisa with duplicate upserts.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.integration.processes import wait_until
from tests.integration.services import LocalMeisa, RedisServer
from tests.integration.site import Site
from tests.integration.test_contact_sync import PENDING_COUNT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CREATE_USERS = """
users = [
    User.objects.create_user(f"user{{i}}", f"user{{i}}@example.com", "pw", job_title="v0")
    for i in range({count})
]
result = [u.pk for u in users]
"""

# Each save is timed in the site's process: the request path must not wait on a broker.
SAVE_ALL = """
import time
timings = []
for user in User.objects.filter(username__startswith="user"):
    started = time.monotonic()
    user.job_title = "{title}"
    user.save()
    timings.append(time.monotonic() - started)
result = timings
"""


def meisa_titles(meisa: LocalMeisa) -> dict[str, Any]:
    """Every contact's job title as Meisa holds it, by email."""
    return {e: c["custom_fields"].get("job_title") for e, c in meisa.contacts().items()}


def all_users_at(meisa: LocalMeisa, count: int, title: str) -> bool:
    """True when Meisa holds ``count`` user contacts, every one at ``title``."""
    titles = meisa_titles(meisa)
    return len(titles) == count and set(titles.values()) == {title}


def upserts_per_email(meisa: LocalMeisa) -> dict[str, int]:
    """How many upserts Meisa accepted for each email."""
    counts: dict[str, int] = {}
    for upsert in meisa.upserts():
        counts[upsert["email"]] = counts.get(upsert["email"], 0) + 1
    return counts


def test_broker_down_during_saves_loses_nothing(site: Site, redis_broker: RedisServer) -> None:
    site.start_worker("w1", supervised=True, wait=False)
    site.start_beat()  # runs the sweep of pending syncs
    site.shell.run(CREATE_USERS.format(count=8))
    wait_until(lambda: all_users_at(site.meisa, 8, "v0"), 60, "the 8 signups")

    redis_broker.stop()
    timings = site.shell.run(SAVE_ALL.format(title="v1"), timeout=120)
    redis_broker.start()  # same port, empty: whatever was queued before is gone

    assert len(timings) == 8, "every save succeeded while the broker was down"
    assert max(timings) < 5, f"a save waited on the dead broker: {timings}"
    wait_until(lambda: all_users_at(site.meisa, 8, "v1"), 90, "the sweep to deliver v1")
    wait_until(lambda: site.shell.run(PENDING_COUNT) == 0, 30, "no pending syncs")


def test_worker_killed_mid_request_loses_nothing(site: Site) -> None:
    site.meisa.fault("timeout", times=1, seconds=30, path="/contacts/upsert/")
    worker = site.start_worker("w1", concurrency=1)
    site.shell.run(CREATE_USERS.format(count=1))
    wait_until(lambda: site.meisa.requests_to("/contacts/upsert/"), 30, "the hung upsert")

    worker.signal_group(signal.SIGKILL)  # the worker and its pool child, mid-request
    worker.process.wait(10)
    site.shell.run(SAVE_ALL.format(title="v1"))  # a newer change while nobody works
    site.start_worker("w2", concurrency=1, wait=False)
    site.start_beat()

    wait_until(lambda: all_users_at(site.meisa, 1, "v1"), 90, "the latest state after SIGKILL")
    assert site.meisa.contacts()["user0@example.com"]["source"] == "signup"


def test_meisa_errors_and_hangs_complete_without_a_duplicate_storm(site: Site) -> None:
    site.meisa.fault("server_error", times=4, status=503, path="/contacts/upsert/")
    site.meisa.fault("rate_limit", times=3, retry_after=1, path="/contacts/upsert/")
    site.meisa.fault("timeout", times=2, seconds=6, path="/contacts/upsert/")
    site.start_worker("w1", wait=False)
    site.start_beat()

    site.shell.run(CREATE_USERS.format(count=5))

    wait_until(lambda: all_users_at(site.meisa, 5, "v0"), 120, "every user after the faults")
    wait_until(lambda: site.shell.run(PENDING_COUNT) == 0, 30, "no pending syncs")
    attempts = len(site.meisa.requests_to("/contacts/upsert/"))
    assert upserts_per_email(site.meisa) == {f"user{i}@example.com": 1 for i in range(5)}
    # 5 successes plus the 9 injected failures, and a little slack for a lease race.
    assert attempts <= 5 + 9 + 3, f"{attempts} upsert requests for 5 users"
