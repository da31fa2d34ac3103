"""SuppressionEmailBackend around Django's SMTP backend (a real local aiosmtpd server)
and around django-anymail's test backend."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection
from django.test import override_settings

from django_meisa.models import SuppressedEmail

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"


class Recorder:
    """aiosmtpd handler keeping every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (aiosmtpd can't report an ephemeral one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _suppressed(loaded_mirror: object) -> None:
    SuppressedEmail.objects.create(email="bad@example.com")
    SuppressedEmail.objects.create(email="local@example.com", source="local")


def meisa(backend: str) -> override_settings:
    from django.conf import settings

    return override_settings(MEISA={**settings.MEISA, "EMAIL_BACKEND": backend})


def test_real_smtp_delivers_only_to_unsuppressed_recipients(smtp_server):
    recorder, port = smtp_server
    messages = [
        EmailMessage(
            "Hello",
            "Body",
            "from@example.com",
            ['"Lovelace, Ada" <ada@example.com>', "Bad <BAD@example.com>"],
            cc=["local@example.com"],
            bcc=["grace@example.com", "x@example.com, bad@example.com"],
        ),
        EmailMessage("Dropped", "Body", "from@example.com", ["bad@example.com"]),
        EmailMessage("Second", "Body", "from@example.com", ["linus@example.com"]),
    ]
    with meisa("django.core.mail.backends.smtp.EmailBackend"):
        backend = get_connection(WRAPPER, host="127.0.0.1", port=port, timeout=5)
        with backend:
            assert backend.send_messages(messages) == 2
    assert [sorted(e.rcpt_tos) for e in recorder.envelopes] == [
        ["ada@example.com", "grace@example.com"],
        ["linus@example.com"],
    ]
    first = message_from_bytes(recorder.envelopes[0].content)
    assert first["To"] == '"Lovelace, Ada" <ada@example.com>'
    assert first["Cc"] is None
    assert b"bad@example.com" not in b"".join(e.content for e in recorder.envelopes).lower()


def test_smtp_errors_still_respect_fail_silently():
    message = EmailMessage("S", "B", "from@example.com", ["ok@example.com"])
    with meisa("django.core.mail.backends.smtp.EmailBackend"):
        backend = get_connection(WRAPPER, host="127.0.0.1", port=9, timeout=2, fail_silently=True)
        assert backend.send_messages([message]) == 0
        loud = get_connection(WRAPPER, host="127.0.0.1", port=9, timeout=2)
        with pytest.raises(ConnectionRefusedError):
            loud.send_messages([message])


def test_anymail_test_backend(settings):
    settings.ANYMAIL = {}
    ok = EmailMessage("S", "B", "from@example.com", ["Ada <ada@example.com>", "bad@example.com"])
    dropped = EmailMessage("S", "B", "from@example.com", ["local@example.com"])
    with meisa("anymail.backends.test.EmailBackend"):
        assert get_connection(WRAPPER).send_messages([ok, dropped]) == 1
    [sent] = mail.outbox
    assert sent is ok
    assert [str(a) for a in sent.anymail_test_params["to"]] == ["Ada <ada@example.com>"]
    assert ok.anymail_status.status == {"sent"}  # anymail's status lands on the caller's object
    assert not hasattr(dropped, "anymail_status")
    assert dropped.meisa_suppressed == ["local@example.com"]
