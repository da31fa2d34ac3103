"""SuppressionEmailBackend as a Django 6.1 MAILERS entry (skipped on older Django)."""

from __future__ import annotations

from email.headerregistry import Address
from typing import Any

import django
import pytest
from django.core import mail
from django.core.mail import EmailMessage, send_mail

from django_meisa.exceptions import MeisaConfigurationError
from django_meisa.models import SuppressedEmail

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS arrived in Django 6.1"),
]

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _suppressed(loaded_mirror: object) -> None:
    SuppressedEmail.objects.create(email="bad@example.com")
    SuppressedEmail.objects.create(email="ada@xn--bcher-kva.de")


def message(to: list[Any]) -> EmailMessage:
    return EmailMessage("Subject", "Body", "from@example.com", to)


def test_wrapper_mailer_naming_another_mailer(settings):
    settings.MAILERS = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "real"}},
        "real": {"BACKEND": LOCMEM},
    }
    assert send_mail("S", "B", "f@example.com", ["bad@example.com", "ok@example.com"]) == 1
    assert send_mail("S", "B", "f@example.com", ["Bad <BAD@example.com>"]) == 0
    assert [m.to for m in mail.outbox] == [["ok@example.com"]]


def test_wrapper_mailer_naming_a_backend_with_options(settings):
    settings.MAILERS = {
        "default": {"BACKEND": LOCMEM},
        "filtered": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM, "options": {}}},
    }
    assert message(["bad@example.com", "ok@example.com"]).send(using="filtered") == 1
    assert mail.outbox[0].to == ["ok@example.com"]


def test_address_objects_are_filtered_and_kept_as_given(settings):
    settings.MAILERS = {"default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM}}}
    keep = Address("Grace Hopper", "grace", "example.com")
    drop = Address("Ada", "ADA", "bücher.de")
    assert message([drop, keep]).send() == 1
    assert mail.outbox[0].to == [keep]


def test_alias_is_passed_to_the_real_backend(settings):
    settings.MAILERS = {"default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM}}}
    backend = mail.mailers["default"]
    assert backend.alias == "default"
    assert backend.inner.alias == "default"


def test_real_backend_options_pass_through(settings):
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    options = {"host": "127.0.0.1", "port": 9, "timeout": 2, "fail_silently": True}
    settings.MAILERS = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": smtp, "options": options}}
    }
    backend = mail.mailers["default"]
    assert (backend.inner.host, backend.inner.port, backend.inner.timeout) == ("127.0.0.1", 9, 2)
    # The closed port would raise without fail_silently reaching the SMTP backend.
    assert message(["ok@example.com"]).send() == 0


@pytest.mark.parametrize(
    "mailers",
    [
        {"default": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "default"}}},
        {
            "default": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "other"}},
            "other": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM}},
        },
        {"default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": WRAPPER}}},
    ],
)
def test_loops_are_configuration_errors(settings, mailers):
    settings.MAILERS = mailers
    with pytest.raises(MeisaConfigurationError, match="loop"):
        mail.mailers["default"]


def test_unknown_options_are_refused_like_any_mailer(settings):
    settings.MAILERS = {"default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM, "nope": 1}}}
    with pytest.raises(Exception, match="nope"):
        mail.mailers["default"]


def test_wrapper_fail_silently_reaches_the_real_backend(settings):
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    options = {"backend": smtp, "options": {"host": "127.0.0.1", "port": 9, "timeout": 2}}
    settings.MAILERS = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {**options, "fail_silently": True}}
    }
    assert mail.mailers["default"].inner.fail_silently is True
    assert message(["ok@example.com"]).send() == 0
