"""SuppressionEmailBackend in the classic EMAIL_BACKEND style, around locmem and a recorder."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection, send_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from django_meisa.exceptions import (
    MeisaConfigurationError,
    MeisaRecipientsSuppressed,
    MeisaSuppressionUnavailable,
)
from django_meisa.models import SuppressedEmail
from django_meisa.signals import email_suppressed
from django_meisa.suppression.backend import SuppressionEmailBackend

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


class RecordingBackend(BaseEmailBackend):
    """A real-backend stand-in that records its options and calls."""

    instances: ClassVar[list[RecordingBackend]] = []

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        self.fail_silently = fail_silently
        self.options = kwargs
        self.calls: list[str] = []
        self.sent: list[EmailMessage] = []
        RecordingBackend.instances.append(self)

    def open(self) -> bool:
        self.calls.append("open")
        return True

    def close(self) -> None:
        self.calls.append("close")

    def send_messages(self, email_messages: Any) -> int:
        self.calls.append("send")
        self.sent.extend(email_messages)
        return len(email_messages)


def meisa(**extra: Any) -> override_settings:
    from django.conf import settings

    return override_settings(MEISA={**settings.MEISA, "EMAIL_BACKEND": LOCMEM, **extra})


@pytest.fixture(autouse=True)
def _suppressed(loaded_mirror: object) -> None:
    for key in ("bad@example.com", "worse@example.com", "ünï@xn--bcher-kva.de"):
        SuppressedEmail.objects.create(email=key)
    SuppressedEmail.objects.create(email="local@example.com", source="local")


def send(*messages: EmailMessage, **options: Any) -> int:
    with meisa():
        return get_connection(WRAPPER, **options).send_messages(list(messages))


def msg(to: list[Any], cc: Any = None, bcc: Any = None) -> EmailMessage:
    return EmailMessage("Subject", "Body", "from@example.com", to, cc=cc, bcc=bcc)


# Filtering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suppressed",
    [
        "bad@example.com",
        "BAD@Example.COM",
        "  bad@example.com ",
        "Bad Person <bad@example.com>",
        '"Person, Bad" <BAD@EXAMPLE.COM>',
        "=?utf-8?q?B=C3=A4d?= <bad@example.com>",
        "bad@example.com (a comment)",
        "<bad@example.com>",
        "local@example.com",
        "Ünï <ÜNÏ@BÜCHER.de>",
        "ünï@xn--bcher-kva.de",
        "bad@example.com.",
    ],
)
def test_every_form_of_a_suppressed_address_is_dropped(suppressed):
    message = msg([suppressed, '"Doe, Jane" <jane@example.com>'])
    assert send(message) == 1
    assert mail.outbox[0].to == ['"Doe, Jane" <jane@example.com>']  # display name kept
    assert len(message.meisa_suppressed) == 1


@pytest.mark.parametrize(
    "sneaky",
    [
        "ok@example.com, bad@example.com",
        "ok@example.com; bad@example.com",
        "ok@example.com bad@example.com",
        "Ok <ok@example.com>, <bad@example.com>",
        "group: ok@example.com, bad@example.com;",
        "ok@example.com\nBcc: bad@example.com",
        "ok@example.com\r\n",
        "not an address",
        "@example.com",
        "bad@",
    ],
)
def test_a_value_that_is_not_exactly_one_address_is_dropped(sneaky):
    message = msg([sneaky, "jane@example.com"])
    assert send(message) == 1
    assert mail.outbox[0].to == ["jane@example.com"]


def test_to_cc_and_bcc_are_all_filtered():
    message = msg(
        ["bad@example.com", "a@example.com"],
        cc=["Worse <worse@example.com>", "b@example.com"],
        bcc=["local@example.com", "c@example.com"],
    )
    assert send(message) == 1
    sent = mail.outbox[0]
    assert (sent.to, sent.cc, sent.bcc) == (["a@example.com"], ["b@example.com"], ["c@example.com"])
    assert sent.recipients() == ["a@example.com", "b@example.com", "c@example.com"]


def test_message_keeps_going_when_only_cc_is_left():
    message = msg(["bad@example.com"], cc=["c@example.com"])
    assert send(message) == 1
    assert mail.outbox[0].to == []
    assert mail.outbox[0].cc == ["c@example.com"]


def test_all_suppressed_message_is_not_sent_nor_counted_and_the_batch_goes_on():
    first, dropped, last = msg(["a@example.com"]), msg(["bad@example.com"]), msg(["b@example.com"])
    alternatives = EmailMultiAlternatives("S", "B", "f@example.com", ["worse@example.com"])
    assert send(first, dropped, alternatives, last) == 2
    assert [m.to for m in mail.outbox] == [["a@example.com"], ["b@example.com"]]


def test_raise_policy_sends_the_rest_then_raises():
    ok, dropped = msg(["a@example.com"]), msg(["bad@example.com", "Worse <worse@example.com>"])
    with meisa(SUPPRESSION_ALL_SUPPRESSED="raise"):
        backend = get_connection(WRAPPER)
        with pytest.raises(MeisaRecipientsSuppressed) as info:
            backend.send_messages([ok, dropped])
    assert info.value.sent == 1
    assert info.value.messages == [dropped]
    assert "bad@example.com" not in str(info.value)
    assert len(mail.outbox) == 1


def test_raise_policy_respects_fail_silently():
    with meisa(SUPPRESSION_ALL_SUPPRESSED="raise"):
        sent = get_connection(WRAPPER, fail_silently=True).send_messages([msg(["bad@example.com"])])
    assert sent == 0
    assert mail.outbox == []


def test_empty_values_are_not_recipients():
    assert send(msg(["", "ok@example.com"])) == 1
    assert send(msg([""], cc=["c@example.com"])) == 1
    assert mail.outbox[1].cc == ["c@example.com"]


def test_message_without_recipients_is_passed_through_untouched():
    recorder = "tests.test_backend.RecordingBackend"
    with meisa(EMAIL_BACKEND=recorder):
        backend = get_connection(WRAPPER)
        assert backend.send_messages([msg([])]) == 1
    assert backend.inner.sent[0].to == []


def test_empty_batch_sends_nothing_and_queries_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert send() == 0


def test_one_query_per_batch(django_assert_num_queries):
    messages = [msg([f"user{i}-{j}@example.com" for j in range(50)]) for i in range(20)]
    messages.append(msg(["bad@example.com"]))
    with django_assert_num_queries(1):
        assert send(*messages) == 20


def test_huge_batches_cost_a_bounded_few_queries(django_assert_num_queries):
    messages = [msg([f"user{i}@example.com"]) for i in range(4500)]
    with django_assert_num_queries(3):  # 2000 addresses per query by default
        assert send(*messages) == 4500


# Signal and logging -----------------------------------------------------------------------


def test_email_suppressed_signal_and_an_info_log_without_addresses(caplog):
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    email_suppressed.connect(receiver)
    message = msg(["bad@example.com", "ok@example.com"])
    try:
        with caplog.at_level(logging.INFO, logger="django_meisa"):
            send(message)
    finally:
        email_suppressed.disconnect(receiver)
    assert received == [
        {"signal": email_suppressed, "message": message, "suppressed": ["bad@example.com"]}
    ]
    assert "Suppressed 1 of 2 recipient(s)" in caplog.text
    assert "bad@example.com" not in caplog.text


def test_a_failing_signal_receiver_never_stops_the_send(caplog):
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    email_suppressed.connect(broken)
    try:
        assert send(msg(["bad@example.com", "ok@example.com"])) == 1
    finally:
        email_suppressed.disconnect(broken)
    assert "receiver bug" in caplog.text


# Fail closed / open -----------------------------------------------------------------------


@pytest.fixture
def table_unreadable(monkeypatch):
    """Make the suppression table unreadable with a real database error.

    A query on a table that doesn't exist, raised by the real driver: no DDL, so it
    works on every vendor and for a DML-only role.
    """
    from django.db import connections

    def broken(keys: list[str], using: str, *, token: bool = True) -> tuple[set[str], None]:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT email FROM meisa_no_such_table")
        return set(), None

    monkeypatch.setattr("django_meisa.suppression.negative_cache.checked_lookup", broken)


@pytest.mark.django_db(transaction=True)  # PostgreSQL aborts the transaction on the error
@pytest.mark.usefixtures("table_unreadable")
def test_database_down_sends_nothing_and_raises():
    with pytest.raises(MeisaSuppressionUnavailable) as info:
        send(msg(["ok@example.com"]), msg(["b@example.com"]))
    assert info.value.__cause__ is not None
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)  # PostgreSQL aborts the transaction on the error
@pytest.mark.usefixtures("table_unreadable")
def test_database_down_with_fail_silently_sends_nothing_and_returns_zero(caplog):
    assert send(msg(["ok@example.com"]), fail_silently=True) == 0
    assert mail.outbox == []
    assert "sending nothing" in caplog.text


@pytest.mark.django_db(transaction=True)  # PostgreSQL aborts the transaction on the error
@pytest.mark.usefixtures("table_unreadable")
def test_fail_open_sends_unfiltered_and_logs(caplog):
    with meisa(SUPPRESSION_FAIL_OPEN=True):
        sent = get_connection(WRAPPER).send_messages([msg(["ok@example.com"])])
    assert sent == 1
    assert "UNFILTERED" in caplog.text


# Bypass ----------------------------------------------------------------------------------------


def test_bypass_is_ignored_unless_allowed(caplog):
    message = msg(["bad@example.com"])
    message.meisa_bypass_suppression = "password reset"
    assert send(message) == 0
    assert "ignored" in caplog.text


def test_bypass_when_allowed_sends_unfiltered_and_is_logged(caplog):
    message = msg(["bad@example.com", "ok@example.com"])
    message.meisa_bypass_suppression = "password reset"
    other = msg(["bad@example.com", "ok@example.com"])
    with meisa(SUPPRESSION_ALLOW_BYPASS=True), caplog.at_level(logging.WARNING):
        assert get_connection(WRAPPER).send_messages([message, other]) == 2
    assert mail.outbox[0].to == ["bad@example.com", "ok@example.com"]
    assert mail.outbox[1].to == ["ok@example.com"]  # only the marked message bypasses
    assert "BYPASSED" in caplog.text
    assert "password reset" in caplog.text


# Configuration and pass-through -----------------------------------------------------------------


def test_wrapping_itself_is_a_clear_configuration_error():
    with meisa(EMAIL_BACKEND=WRAPPER), pytest.raises(MeisaConfigurationError, match="loop"):
        get_connection(WRAPPER)


def test_unimportable_real_backend_is_a_configuration_error():
    with meisa(EMAIL_BACKEND="nowhere.Backend"), pytest.raises(MeisaConfigurationError):
        get_connection(WRAPPER)


def test_subclass_of_the_wrapper_is_a_loop_too():
    subclass = "tests.test_backend.SubclassedWrapper"
    with meisa(EMAIL_BACKEND=subclass), pytest.raises(MeisaConfigurationError, match="loop"):
        get_connection(WRAPPER)


class SubclassedWrapper(SuppressionEmailBackend):
    """A site's own subclass of the wrapper (still a loop if named as the real backend)."""


def test_connection_options_and_fail_silently_reach_the_real_backend():
    RecordingBackend.instances.clear()
    with meisa(EMAIL_BACKEND="tests.test_backend.RecordingBackend"):
        backend = get_connection(WRAPPER, fail_silently=True, host="smtp.example", port=2525)
    inner = RecordingBackend.instances[-1]
    assert backend.inner is inner
    assert inner.fail_silently is True
    assert inner.options == {"host": "smtp.example", "port": 2525}


def test_open_close_and_context_manager_are_passed_through():
    with meisa(EMAIL_BACKEND="tests.test_backend.RecordingBackend"):
        backend = get_connection(WRAPPER)
        with backend as conn:
            conn.send_messages([msg(["ok@example.com"]), msg(["bad@example.com"])])
    assert backend.inner.calls == ["open", "send", "close"]
    assert [m.to for m in backend.inner.sent] == [["ok@example.com"]]


def test_settings_email_backend_with_send_mail(settings):
    settings.EMAIL_BACKEND = WRAPPER
    with meisa():
        assert send_mail("S", "B", "f@example.com", ["bad@example.com", "ok@example.com"]) == 1
        assert send_mail("S", "B", "f@example.com", ["Bad <bad@example.com>"]) == 0
    assert [m.to for m in mail.outbox] == [["ok@example.com"]]


# Beyond to/cc/bcc ---------------------------------------------------------------------------


def test_address_headers_in_extra_headers_are_rewritten():
    message = msg(["ok@example.com"])
    message.extra_headers = {
        "Cc": '"Doe, Jane" <jane@example.com>, Bad <BAD@example.com>',
        "to": "bad@example.com",
        "Reply-To": "bad@example.com",  # not a recipient: left alone
    }
    assert send(message) == 1
    assert message.extra_headers["Cc"] == '"Doe, Jane" <jane@example.com>'
    assert "to" not in message.extra_headers
    assert message.extra_headers["Reply-To"] == "bad@example.com"
    assert message.meisa_suppressed == []  # header-only drops are not envelope drops


class ExtraRecipientMessage(EmailMessage):
    """A site's message class whose envelope has an address outside to/cc/bcc."""

    extra = "bad@example.com"

    def recipients(self) -> list[Any]:
        return [*super().recipients(), self.extra]


def test_a_suppressed_address_added_by_recipients_is_never_sent(caplog):
    message = ExtraRecipientMessage("S", "B", "f@example.com", ["ok@example.com"])
    assert send(message) == 0
    assert mail.outbox == []
    assert "recipients() returned an unchecked address" in caplog.text


def test_an_unsuppressed_address_added_by_recipients_is_checked_in_the_same_query(
    django_assert_num_queries,
):
    message = ExtraRecipientMessage("S", "B", "f@example.com", ["ok@example.com"])
    message.extra = "fine@example.com"
    with django_assert_num_queries(1):
        assert send(message) == 1
