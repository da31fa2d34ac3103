"""System checks report misconfigured MEISA settings with stable ids."""

from __future__ import annotations

import pytest
from django.core.checks import Error

from django_meisa.checks import check_settings


def ids(settings):
    return [message.id for message in check_settings()]


def test_a_correct_configuration_reports_nothing(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": "https://api.meisa.io/api/v1", "TIMEOUT": 5}
    assert check_settings() == []


def test_missing_api_key_while_enabled_is_e001(settings):
    settings.MEISA = {}
    assert check_settings() == [
        Error(
            'MEISA["API_KEY"] is not set while django-meisa is enabled.',
            hint='Set MEISA["API_KEY"] (e.g. from an environment variable), or set '
            'MEISA["ENABLED"] = False.',
            id="meisa.E001",
        )
    ]


def test_missing_api_key_is_fine_when_disabled(settings):
    settings.MEISA = {"ENABLED": False}
    assert check_settings() == []


def test_blank_api_key_is_e001(settings):
    settings.MEISA = {"API_KEY": "  "}
    assert ids(settings) == ["meisa.E001"]


def test_http_remote_base_url_is_e002(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": "http://api.meisa.io/api/v1"}
    [error] = check_settings()
    assert error.id == "meisa.E002"
    assert "https" in error.msg


def test_http_localhost_is_allowed_for_local_fakes(settings):
    for url in ("http://localhost:8765/api/v1", "http://127.0.0.1:8765/api/v1"):
        settings.MEISA = {"API_KEY": "k", "BASE_URL": url}
        assert check_settings() == []


def test_non_url_base_url_is_e002(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_URL": "ftp://meisa"}
    assert ids(settings) == ["meisa.E002"]


def test_unknown_key_names_the_closest_valid_key(settings):
    settings.MEISA = {"API_KEY": "k", "BASE_ULR": "https://api.meisa.io/api/v1"}
    [error] = check_settings()
    assert error.id == "meisa.E003"
    assert error.msg == 'Unknown setting MEISA["BASE_ULR"].'
    assert error.hint == 'Did you mean MEISA["BASE_URL"]?'


def test_unknown_key_without_a_close_match_lists_valid_keys(settings):
    settings.MEISA = {"API_KEY": "k", "ZZZ": 1}
    [error] = check_settings()
    assert error.id == "meisa.E003"
    assert "API_KEY" in error.hint


def test_meisa_must_be_a_dict(settings):
    settings.MEISA = [("API_KEY", "k")]
    assert ids(settings) == ["meisa.E004"]
    settings.MEISA = []  # falsy, but still not a dict
    assert ids(settings) == ["meisa.E004"]


def test_bad_timeout_is_e005(settings):
    for value in ("10", 0, -1, (1, 2, 3), (1, "x"), True):
        settings.MEISA = {"API_KEY": "k", "TIMEOUT": value}
        assert ids(settings) == ["meisa.E005"], value


# Django 6.1's check command hands every alias to the model checks, which may query it.
@pytest.mark.django_db(databases="__all__")
def test_checks_run_through_manage_py_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.MEISA = {"API_KEY": ""}
    with pytest.raises(SystemCheckError, match=r"meisa\.E001"):
        call_command("check")
