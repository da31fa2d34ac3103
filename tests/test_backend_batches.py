"""The backend's batch paths: plain messages sent untouched, everything else filtered.

Whatever mix a batch holds (plain strings, display names, tuples, lazy strings, empty
values, To/Cc headers, duplicates across messages, suppressed and unparseable values),
no suppressed or unparseable address reaches the real backend, and a message with
nothing to drop goes out exactly as given.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.test import override_settings
from django.utils.functional import lazy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_meisa.models import SuppressedEmail, SuppressionRefreshState
from django_meisa.suppression.addresses import canonical_key

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SUPPRESSED = ("bad@example.com", "local@example.com")
lazy_str = lazy(str, str)


@pytest.fixture(autouse=True)
def _suppressed(loaded_mirror: object) -> None:
    SuppressedEmail.objects.create(email=SUPPRESSED[0])
    SuppressedEmail.objects.create(email=SUPPRESSED[1], source="local")


def send(messages: list[Any], **extra: Any) -> int:
    from django.conf import settings as django_settings

    meisa = {**django_settings.MEISA, "EMAIL_BACKEND": LOCMEM, **extra}
    with override_settings(MEISA=meisa):
        return get_connection(WRAPPER).send_messages(messages)


def sendable(value: Any) -> bool:
    key = canonical_key(value)
    return key is not None and key not in SUPPRESSED


addresses = st.sampled_from(
    [
        "ok@example.com",
        "OK@Example.com",
        "Ok Person <ok@example.com>",
        "other@example.org",
        "bad@example.com",
        "BAD@EXAMPLE.COM",
        "Bad <bad@example.com>",
        "local@example.com",
        '"Doe, Jane" <jane@example.com>',
        "x@y.com, bad@example.com",
        "not an address",
        "",
    ]
)
values = (
    addresses
    | addresses.map(lambda a: ("Name", a))
    | addresses.map(lazy_str)
    | st.just(("Tuple", "bad@example.com"))
)
value_lists = st.lists(values, max_size=3)


class ExtraRecipient(EmailMessage):
    """recipients() adds an address of its own (a subclass's envelope differs)."""

    extra = "Extra <extra@example.org>"

    def recipients(self) -> list[Any]:
        return [*super().recipients(), self.extra]


class ExtraSuppressed(ExtraRecipient):
    extra = "bad@example.com"


KINDS = [EmailMessage, EmailMultiAlternatives, ExtraRecipient, ExtraSuppressed]


@st.composite
def messages(draw: st.DrawFn) -> EmailMessage:
    subject = str(draw(st.uuids()))
    kind = draw(st.sampled_from(KINDS))
    message = kind(subject, "B", "f@example.com", draw(value_lists), cc=draw(value_lists))
    message.bcc = draw(value_lists)
    if draw(st.booleans()) and draw(st.booleans()):
        message.extra_headers["Cc"] = draw(addresses)
    return message


@given(st.lists(messages(), min_size=1, max_size=6))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_batch_ever_sends_a_suppressed_or_unparseable_address(batch):
    given_fields = [(list(m.to), list(m.cc), list(m.bcc), dict(m.extra_headers)) for m in batch]
    mail.outbox = []
    sent = send(batch)
    assert sent == len(mail.outbox)
    for message in mail.outbox:  # a message without recipients is sent as it is
        assert all(sendable(value) for value in message.recipients())
    for message, (to, cc, bcc, headers) in zip(batch, given_fields, strict=True):
        clean = [v for v in to + cc + bcc if v]
        if isinstance(message, ExtraSuppressed):
            assert message.subject not in {sent.subject for sent in mail.outbox}
        elif all(sendable(value) for value in clean) and clean and "Cc" not in headers:
            # Nothing to drop: sent exactly as given (the outbox holds copies).
            assert message.subject in {sent.subject for sent in mail.outbox}
            assert (message.to, message.cc, message.bcc) == (to, cc, bcc)


def test_djangos_recipients_are_the_non_empty_to_cc_and_bcc():
    # What derived_envelope relies on to skip reading recipients() of Django's messages.
    message = EmailMessage("S", "B", "f@example.com", ["a@x.org", ""], cc=["b@x.org"])
    message.bcc = ["", "c@x.org"]
    assert message.recipients() == ["a@x.org", "b@x.org", "c@x.org"]


class PropertyTo(EmailMessage):
    @property
    def to(self) -> list[str]:
        return ["ok@example.com"]

    @to.setter
    def to(self, value: Any) -> None:
        pass


def test_only_djangos_own_recipients_is_derived_from_the_fields():
    from django_meisa.suppression.batch import derived_envelope

    own = EmailMultiAlternatives("S", "B", "f@example.com", ["ok@example.com"])
    patched = EmailMessage("S", "B", "f@example.com", ["ok@example.com"])
    patched.recipients = lambda: ["bad@example.com"]
    assert derived_envelope(own)
    assert not derived_envelope(patched)
    assert not derived_envelope(ExtraRecipient("S", "B", "f@example.com", ["ok@example.com"]))
    assert not derived_envelope(PropertyTo("S", "B", "f@example.com"))
    assert send([patched]) == 0


@pytest.mark.parametrize("later", ["never.checked@example.com", ("Name", "bad@example.com")])
def test_a_value_added_to_a_plain_message_during_the_lookup_is_never_sent(later, monkeypatch):
    from django_meisa.suppression.backend import SuppressionEmailBackend

    message = EmailMessage("S", "B", "f@example.com", ["ok@example.com", "bad@example.com"])
    real = SuppressionEmailBackend.lookup

    def lookup(self: Any, keys: set[str]) -> Any:
        message.cc = [later, "other@example.org"]
        return real(self, keys)

    monkeypatch.setattr(SuppressionEmailBackend, "lookup", lookup)
    assert send([message]) == 1
    (sent,) = mail.outbox
    assert sent.recipients() == ["ok@example.com"]


class FlakyRecipients(EmailMessage):
    """recipients() returns another address on each call after the first."""

    def __init__(self, *args: Any, later: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = itertools.count()
        self.later = later

    def recipients(self) -> list[Any]:
        calls = next(self.calls)
        return [*super().recipients(), *(self.later if calls else [])]


@pytest.mark.parametrize("later", [["bad@example.com"], ["never.checked@example.com"]])
def test_an_address_recipients_adds_after_the_lookup_is_never_sent(later, caplog):
    message = FlakyRecipients("S", "B", "f@example.com", ["ok@example.com"], later=later)
    assert send([message]) == 0
    assert mail.outbox == []
    assert "recipients() returned an unchecked address" in caplog.text


def test_a_string_in_two_messages_is_dropped_from_both():
    first = EmailMessage("S", "B", "f@example.com", ["ok@example.com", "bad@example.com"])
    second = EmailMessage("S", "B", "f@example.com", ["other@example.org"], cc=["bad@example.com"])
    assert send([first, second]) == 2
    assert (first.to, second.to, second.cc) == (["ok@example.com"], ["other@example.org"], [])
    assert first.meisa_suppressed == second.meisa_suppressed == ["bad@example.com"]


def test_an_untouched_message_records_that_nothing_was_dropped():
    message = EmailMessage("S", "B", "f@example.com", ["ok@example.com"])
    assert send([message]) == 1
    assert message.meisa_suppressed == []


def test_a_bypassed_plain_message_is_sent_while_the_mirror_was_never_loaded():
    SuppressionRefreshState.objects.update(last_success_at=None)
    from django_meisa.suppression.freshness import forget_freshness

    forget_freshness()
    bypassed = EmailMessage("S", "B", "f@example.com", ["bad@example.com"])
    bypassed.meisa_bypass_suppression = "password reset"
    held = EmailMessage("S", "B", "f@example.com", ["ok@example.com"])
    with pytest.raises(Exception, match="never been loaded"):
        send([bypassed, held], SUPPRESSION_ALLOW_BYPASS=True)
    assert [sent.to for sent in mail.outbox] == [["bad@example.com"]]


def test_the_lookup_takes_a_generator_of_keys_too():
    from django_meisa.suppression.lookup import suppressed_among, suppressed_keys

    assert suppressed_keys(key for key in ["bad@example.com", "ok@example.com"]) == {
        "bad@example.com"
    }
    assert suppressed_among(["Bad <BAD@example.com>", "ok@example.com"]) == {
        "Bad <BAD@example.com>"
    }
