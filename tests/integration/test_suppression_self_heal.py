"""A never-loaded mirror heals itself: the wrapper refuses to send unfiltered, asks a
real worker for one refresh by task name, and the next send is filtered. No beat."""

from __future__ import annotations

import pytest

from tests.integration.processes import wait_until
from tests.integration.services import SmtpSink
from tests.integration.site import Site

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SEND = """
from django.core.mail import send_mail
from django_meisa.exceptions import MeisaSuppressionNotLoaded
try:
    result = [send_mail("Hello", "Body", None, [to]) for to in {recipients!r}]
except MeisaSuppressionNotLoaded as err:
    result = "not loaded: " + str(err)
"""

LOADED = """
from django_meisa.models import SuppressionRefreshState
result = SuppressionRefreshState.objects.filter(last_success_at__isnull=False).exists()
"""


def test_the_first_send_requests_one_refresh_and_the_worker_closes_the_gap(
    site: Site, smtp_sink: SmtpSink
) -> None:
    site.meisa.list_unsubscribed("gone@example.com")
    site.start_worker("w1")

    first = site.shell.run(SEND.format(recipients=["gone@example.com", "ok@example.com"]))
    assert str(first).startswith("not loaded: ")
    assert "meisa_refresh_suppressions" in first
    assert smtp_sink.message_count() == 0  # nothing went out unfiltered

    wait_until(lambda: site.shell.run(LOADED), 60, "the requested refresh")
    wait_until(
        lambda: (
            site.shell.run(SEND.format(recipients=["gone@example.com", "ok@example.com"])) == [0, 1]
        ),
        30,
        "a filtered send (the process re-reads the mirror's state within seconds)",
    )
    assert smtp_sink.recipients() == {"ok@example.com"}
    assert len(site.meisa.requests_to("unsubscribed-emails")) == 1  # one refresh, not one per send
