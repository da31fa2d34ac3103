"""System checks meisa.E020-E024 and W020-W021 (suppression and the email backend)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning

from django_meisa.checks import check_suppression

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(autouse=True)
def _wrapped(settings: Any) -> None:
    settings.EMAIL_BACKEND = WRAPPER
    settings.MEISA = {"API_KEY": "k", "EMAIL_BACKEND": SMTP}


def ids() -> list[str]:
    return [message.id for message in check_suppression()]


def test_a_correct_classic_configuration_reports_nothing():
    assert check_suppression() == []


def test_wrapping_itself_is_e020(settings):
    settings.MEISA = {"API_KEY": "k", "EMAIL_BACKEND": WRAPPER}
    [error] = check_suppression()
    assert isinstance(error, Error)
    assert error.id == "meisa.E020"
    assert "loop" in error.msg


def test_unimportable_real_backend_is_e021(settings):
    settings.MEISA = {"API_KEY": "k", "EMAIL_BACKEND": "nowhere.EmailBackend"}
    assert ids() == ["meisa.E021"]


def test_unknown_policy_is_e022(settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_ALL_SUPPRESSED": "bounce"}
    assert ids() == ["meisa.E022"]


def test_raise_policy_is_fine(settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_ALL_SUPPRESSED": "raise"}
    assert ids() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SUPPRESSION_SHRINK_MAX_FRACTION", 1.5),
        ("SUPPRESSION_SHRINK_MAX_FRACTION", -0.1),
        ("SUPPRESSION_SHRINK_MIN_COUNT", 2.5),
        ("SUPPRESSION_REFRESH_INTERVAL", 0),
        ("SUPPRESSION_LOOKUP_BATCH_SIZE", 0),
        ("SUPPRESSION_LOCK_TIMEOUT", "600"),
        ("SUPPRESSION_STATUS_GRACE", True),
    ],
)
def test_numbers_out_of_range_are_e024(settings, name, value):
    settings.MEISA = {**settings.MEISA, name: value}
    assert ids() == ["meisa.E024"]


def test_fail_open_is_w020(settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESSION_FAIL_OPEN": True}
    [warning] = check_suppression()
    assert isinstance(warning, Warning)
    assert warning.id == "meisa.W020"


def test_no_mail_path_through_the_wrapper_is_w021(settings):
    settings.EMAIL_BACKEND = SMTP
    assert ids() == ["meisa.W021"]


def test_mailers_configurations(settings):
    settings.EMAIL_BACKEND = SMTP
    settings.MAILERS = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "smtp"}},
        "smtp": {"BACKEND": SMTP},
        "direct": {"BACKEND": WRAPPER, "OPTIONS": {"backend": SMTP}},
    }
    assert ids() == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"mailer": "default"}, "meisa.E020"),  # itself
        ({"mailer": "other_wrapper"}, "meisa.E020"),  # another wrapper
        ({"backend": WRAPPER}, "meisa.E020"),
        ({"mailer": "missing"}, "meisa.E021"),
        ({"backend": "nowhere.Backend"}, "meisa.E021"),
        ({"backend": SMTP, "mailer": "smtp"}, "meisa.E023"),
    ],
)
def test_bad_mailers_wrappers(settings, options, expected):
    settings.EMAIL_BACKEND = SMTP
    settings.MAILERS = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": options},
        "other_wrapper": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "smtp"}},
        "smtp": {"BACKEND": SMTP},
    }
    assert ids() == [expected]


# Django 6.1's check command hands every alias to the model checks, which may query it.
@pytest.mark.django_db(databases="__all__")
def test_checks_are_registered(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.MEISA = {"API_KEY": "k", "EMAIL_BACKEND": WRAPPER}
    with pytest.raises(SystemCheckError, match=r"meisa\.E020"):
        call_command("check")
