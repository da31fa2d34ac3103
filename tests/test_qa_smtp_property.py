"""QA: a listed address never reaches a real SMTP server, whatever form list and send use."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import responses
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from django_meisa.suppression import refresh_suppressions
from django_meisa.suppression.addresses import canonical_key

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"
LIST_URL = "https://api.meisa.io/api/v1/contacts/api/unsubscribed-emails/"

local_parts = st.sampled_from(
    ["ada", "Ada.Lovelace", "a+tag", "ÜSER", "straße", "o'neil", "x_y", "ADA", "é"]
)
domains = st.sampled_from(
    ["example.com", "EXAMPLE.com", "bücher.de", "XN--BCHER-KVA.DE", "sub.example.co.uk"]
)


def forms(local: str, domain: str) -> st.SearchStrategy[str]:
    quoted = f'"{local}"@{domain}'
    bare = f"{local}@{domain}"
    return st.sampled_from(
        [
            bare,
            bare.upper() if local.isascii() and domain.isascii() else bare,
            quoted,
            f"Name <{bare}>",
            f'"Last, First" <{quoted}>',
            f"<{bare}>",
            f"{bare} (comment)",
            f"  {bare}  ",
            f"=?utf-8?q?N=C3=A4me?= <{bare}>",
        ]
    )


@st.composite
def cases(draw: Any) -> tuple[str, str]:
    local, domain = draw(local_parts), draw(domains)
    return draw(forms(local, domain)), draw(forms(local, domain))


class Recorder:
    def __init__(self) -> None:
        self.rcpts: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.rcpts.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    yield recorder, port
    controller.stop()


@hsettings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_listed_address_never_reaches_smtp(smtp, case):
    recorder, port = smtp
    listed, recipient = case
    body = {"as_of": timezone.now().isoformat(), "count": 1, "emails": [listed]}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        result = refresh_suppressions(force=True)
    key = canonical_key(listed)
    assert key is not None, listed
    assert result.error is None
    recorder.rcpts.clear()
    wrapped = {**settings.MEISA, "EMAIL_BACKEND": SMTP}
    with override_settings(
        EMAIL_BACKEND=WRAPPER, MEISA=wrapped, EMAIL_HOST="127.0.0.1", EMAIL_PORT=port
    ):
        message = EmailMessage("S", "B", "from@example.com", [recipient, "ok@example.com"])
        get_connection().send_messages([message])
    got = {canonical_key(r) for r in recorder.rcpts}
    assert key not in got, (listed, recipient, recorder.rcpts)
    assert "ok@example.com" in got
