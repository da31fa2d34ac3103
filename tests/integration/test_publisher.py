"""The background publisher on real parts: a Redis broker, Celery workers, Meisa over HTTP.

Each test drives the example site's own processes: the site's Django shell saves users
(the request path: bump, commit, queue), the publisher thread publishes, a real worker
syncs. A process killed between commit and publish, a fork, interpreter exit, a full
queue and the inline fallback must each still get every change to Meisa.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.integration.processes import wait_until
from tests.integration.site import EXAMPLE_DIR, Site

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def synced(site: Site, *emails: str) -> bool:
    """True once Meisa holds a contact for every one of ``emails``."""
    contacts = site.meisa.contacts()
    return all(email in contacts for email in emails)


def test_a_process_killed_after_commit_loses_no_sync(site: Site) -> None:
    site.start_worker("w1")
    site.shell.run(
        """
        import threading
        from django_meisa.contacts import publisher
        assert publisher.background_mode()
        # The thread takes the publish off the queue and then hangs: the process dies
        # holding it, after the commit, before the broker ever saw it.
        publisher.send_batch = lambda items: threading.Event().wait()
        User.objects.create_user("killed", "killed@example.com", "pw-killed-123")
        """
    )
    os.killpg(site.shell.process.pid, signal.SIGKILL)
    site.shell.process.wait(10)
    assert not synced(site, "killed@example.com")
    site.start_beat()  # the sweep finds the pending row and publishes it
    wait_until(lambda: synced(site, "killed@example.com"), 60, "the sweep to deliver it")


EXIT_AT_ONCE = """
from django.contrib.auth import get_user_model
from django_meisa.contacts import publisher
assert publisher.background_mode()
User = get_user_model()
for n in range(20):
    User.objects.create_user(f"exit{n}", f"exit{n}@example.com", "pw-exit-12345")
print("queued", publisher._publisher.queue.unfinished_tasks)
"""


def test_exit_flushes_the_queue(site: Site) -> None:
    site.start_worker("w1")  # no beat: no sweep could make up for a lost publish
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", EXIT_AT_ONCE],
        cwd=EXAMPLE_DIR,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "queued" in done.stdout
    emails = [f"exit{n}@example.com" for n in range(20)]
    wait_until(lambda: synced(site, *emails), 60, "every publish queued at exit")


FORK = """
import os
from django.db import connections
from django_meisa.contacts import publisher
User.objects.create_user("parent", "parent@example.com", "pw-parent-123")
assert publisher.flush(10)  # the parent's thread exists and has a broker connection
connections.close_all()  # the child gets a database connection of its own
pid = os.fork()
if pid == 0:
    code = 1
    try:
        fresh = publisher._publisher.thread is None
        User.objects.create_user("child", "child@example.com", "pw-child-1234")
        code = 0 if fresh and publisher.flush(10) else 2
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
User.objects.create_user("after", "after@example.com", "pw-after-1234")
result = os.waitstatus_to_exitcode(status)
"""


def test_a_forked_child_publishes_over_its_own_thread_and_connection(site: Site) -> None:
    site.start_worker("w1")
    assert site.shell.run(FORK) == 0
    emails = ("parent@example.com", "child@example.com", "after@example.com")
    wait_until(lambda: synced(site, *emails), 60, "the parent's and the child's syncs")


OVERFLOW = """
import queue, threading
from django_meisa.contacts import publisher
stuck = threading.Event()
publisher._publisher.reset()
publisher._publisher.queue = queue.Queue(2)
publisher._publisher.thread = threading.Thread(target=stuck.wait, daemon=True)
publisher._publisher.thread.start()  # "the publisher" is busy: nothing is consumed
for n in range(5):
    User.objects.create_user(f"over{n}", f"over{n}@example.com", "pw-over-12345")
result = publisher._publisher.queue.qsize()
"""

RELEASE = """
stuck.set()
publisher._publisher.thread = None
publisher._publisher.start()
result = publisher.flush(10)
"""


def test_a_full_queue_publishes_inline_and_drops_nothing(site: Site) -> None:
    site.start_worker("w1")
    assert site.shell.run(OVERFLOW) == 2  # two wait in the queue...
    inline = [f"over{n}@example.com" for n in range(2, 5)]
    wait_until(lambda: synced(site, *inline), 60, "the three published inline")
    assert not synced(site, "over0@example.com")
    assert site.shell.run(RELEASE) is True  # ...and go out once the thread runs
    wait_until(lambda: synced(site, "over0@example.com", "over1@example.com"), 60, "the rest")


def test_inline_mode_publishes_on_the_request_thread(make_site, redis_broker) -> None:
    site = make_site(redis_broker.url)
    site.start_worker("w1")
    result = site.shell.run(
        """
        import sys, types
        from django_meisa.contacts import publisher
        sys.modules["uwsgi"] = types.SimpleNamespace(opt={})  # uWSGI without threads
        publisher._publisher.reset()
        User.objects.create_user("inline", "inline@example.com", "pw-inline-123")
        result = [publisher.inline_reason(), publisher._publisher.thread is None]
        del sys.modules["uwsgi"]
        """
    )
    assert result == ["uWSGI runs without enable-threads", True]
    wait_until(lambda: synced(site, "inline@example.com"), 60, "the inline publish")
