"""The mirror's deploy checks (meisa.W040-W042) and the freshness settings (E040, E041)."""

from __future__ import annotations

import datetime as dt
import io

import django
import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from django_meisa.models import SuppressionRefreshState
from django_meisa.suppression.checks import freshness_setting_messages, mirror_messages

# Django 6.1's check command hands every alias (the test settings' stale_replica too)
# to the model checks, which may query it.
pytestmark = pytest.mark.django_db(databases="__all__")


def check(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", *args, stdout=out, stderr=err)
    except SystemCheckError as error:  # --deploy may fail on Django's own deploy checks
        return str(error)
    return out.getvalue() + err.getvalue()


def loaded(ago: dt.timedelta) -> None:
    SuppressionRefreshState.objects.update_or_create(
        pk=SuppressionRefreshState.SINGLETON_PK,
        defaults={"last_success_at": timezone.now() - ago},
    )


@pytest.mark.parametrize("args", [("--database", "default"), ("--deploy",)])
def test_a_never_loaded_mirror_is_w040_under_database_and_deploy_checks(args):
    output = check(*args)
    assert "meisa.W040" in output
    assert "meisa_refresh_suppressions" in output


def test_both_flags_report_it_once_before_django_6_1():
    # Django 6.1 passes every alias to the deploy check too, so it can't tell that the
    # database-tagged check already reported (see check_suppression_mirror_deploy).
    expected = 1 if django.VERSION < (6, 1) else 2
    assert check("--deploy", "--database", "default").count("meisa.W040") == expected


def test_a_plain_check_never_touches_the_database():
    assert "meisa.W04" not in check()


def test_a_loaded_mirror_passes_and_a_stale_one_is_w041():
    loaded(dt.timedelta(minutes=1))
    assert mirror_messages(["default"]) == []
    loaded(dt.timedelta(hours=2))
    [warning] = mirror_messages(["default"])
    assert warning.id == "meisa.W041"


def test_another_database_is_not_asked():
    assert mirror_messages(["other"]) == []
    assert mirror_messages(None) == []


@pytest.mark.parametrize(
    ("settings_", "ids"),
    [
        ({}, []),
        ({"SUPPRESSION_STALE_POLICY": "raise"}, []),
        ({"SUPPRESSION_STALE_POLICY": "RAISE", "SUPPRESSION_MAX_AGE": 7200}, []),
        ({"SUPPRESSION_STALE_POLICY": "ignore"}, ["meisa.E040"]),
        ({"SUPPRESSION_MAX_AGE": 0}, ["meisa.E041"]),
        ({"SUPPRESSION_MAX_AGE": "1h"}, ["meisa.E041"]),
        ({"SUPPRESSION_MAX_AGE": True}, ["meisa.E041"]),
    ],
)
def test_freshness_settings(settings, settings_, ids):
    settings.MEISA = {"API_KEY": "k", **settings_}
    assert [m.id for m in freshness_setting_messages()] == ids


def test_before_the_first_migrate_there_is_nothing_to_say(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda *a, **k: [])
    assert mirror_messages(["default"]) == []


def test_an_unreadable_state_is_w042(monkeypatch):
    from django.db import DatabaseError

    from django_meisa.models import SuppressionRefreshState

    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("permission denied for table")

    monkeypatch.setattr(SuppressionRefreshState.objects, "using", broken)
    [warning] = mirror_messages(["default"])
    assert warning.id == "meisa.W042"
