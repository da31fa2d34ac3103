"""Beat refreshes the suppression mirror; mail goes through the wrapper to a real SMTP
server; and no suppressed address is delivered when the download fails, comes back
empty, or while a large refresh is being applied on PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.integration.processes import wait_until
from tests.integration.services import SmtpSink
from tests.integration.site import Site

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SEND = """
from django.core.mail import send_mail
for to in {recipients!r}:
    send_mail("Hello", "A message from the example site.", None, [to])
"""

IS_SUPPRESSED = """
from django_meisa.suppression import is_suppressed
result = is_suppressed({email!r})
"""

REFRESHES = """
from django_meisa.models import SuppressionRefreshState
result = [str(s.last_success_at) for s in SuppressionRefreshState.objects.all()]
"""


def suppressed(site: Site, email: str) -> bool:
    """Ask the site (not Meisa) whether ``email`` is in its suppression mirror."""
    return bool(site.shell.run(IS_SUPPRESSED.format(email=email)))


def send(site: Site, *recipients: str) -> None:
    """Send one message per recipient through the site's EMAIL_BACKEND (the wrapper)."""
    site.shell.run(SEND.format(recipients=list(recipients)))


def test_beat_refreshes_the_list_and_the_wrapper_drops_listed_addresses(
    site: Site, smtp_sink: SmtpSink
) -> None:
    site.meisa.list_unsubscribed("gone@example.com", "bounced@example.com")
    site.start_worker("w1", wait=False)
    site.start_beat()

    wait_until(lambda: suppressed(site, "gone@example.com"), 60, "beat's first refresh")
    send(site, "gone@example.com", "ok@example.com", "BOUNCED@example.com")

    assert smtp_sink.recipients() == {"ok@example.com"}
    assert smtp_sink.message_count() == 1


def test_no_suppressed_address_delivered_when_the_download_fails_or_empties(
    site: Site, smtp_sink: SmtpSink
) -> None:
    listed = [f"listed{i}@example.com" for i in range(3)]
    site.meisa.list_unsubscribed(*listed)
    site.start_worker("w1", wait=False)
    site.start_beat()
    wait_until(lambda: all(suppressed(site, e) for e in listed), 60, "the first refresh")

    site.meisa.fault("server_error", times=3, path="unsubscribed-emails")
    for _ in range(3):
        send(site, *listed, "fresh@example.com")
    site.meisa.unlist(*listed)  # the list comes back empty mid-run: the guard holds
    wait_until(lambda: len(site.meisa.requests_to("unsubscribed-emails")) >= 6, 60, "refreshes")
    for _ in range(3):
        send(site, *listed, "fresh@example.com")

    assert smtp_sink.recipients() == {"fresh@example.com"}
    assert smtp_sink.message_count() == 6
    assert all(suppressed(site, e) for e in listed)


LARGE_LIST = 60_000
SEND_LOOP = """
import time
from django.core.mail import send_mail
sent = 0
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline:
    for to in {recipients!r}:
        sent += send_mail("Hi", "Loop", None, [to])
result = sent
"""


def test_no_suppressed_address_delivered_during_a_large_refresh(
    site: Site, smtp_sink: SmtpSink
) -> None:
    targets = ["target0@example.com", "target1@example.com"]
    first = [f"old{i}@example.com" for i in range(LARGE_LIST)]
    site.meisa.list_unsubscribed(*targets, *first)
    site.start_worker("w1", wait=False)
    site.start_beat()
    wait_until(lambda: all(suppressed(site, t) for t in targets), 120, "the first large refresh")

    # A 2x-size diff: every old address goes, as many new ones come; the targets stay.
    site.meisa.control("POST", "reset")
    site.meisa.list_unsubscribed(*targets, *(f"new{i}@example.com" for i in range(LARGE_LIST)))
    sent = site.shell.run(SEND_LOOP.format(seconds=15, recipients=targets), timeout=120)

    assert sent == 0
    assert smtp_sink.recipients() == set()
    wait_until(lambda: suppressed(site, "new1@example.com"), 120, "the large refresh to apply")
