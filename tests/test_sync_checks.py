"""System checks meisa.E010-E017 and W010 for the contact sync settings."""

from __future__ import annotations

import pytest

from django_meisa.checks import check_contact_sync
from tests.sync_support import PRODUCTION_FIELDS


def ids(settings, **values):
    settings.MEISA = {**settings.MEISA, **values}
    return [(m.id, m.msg) for m in check_contact_sync()]


def test_the_production_settings_pass(settings):
    assert (
        ids(
            settings,
            CUSTOM_FIELDS={**PRODUCTION_FIELDS, "label": "tests.sync_callables.plan_label"},
            TAG_NAMES="tests.sync_callables.tags",
            EXTERNAL_ID_FIELD="username",
            SYNC_TRIGGERS={"testapp.Subscription": "user", "testapp.Profile": "user"},
        )
        == []
    )


@pytest.mark.parametrize(
    ("values", "check_id", "named"),
    [
        ({"CUSTOM_FIELDS": ["plan"]}, "meisa.E010", "CUSTOM_FIELDS"),
        ({"CUSTOM_FIELDS": {"plan": "profile.plann"}}, "meisa.E011", "'plann'"),
        ({"CUSTOM_FIELDS": {"plan": "profle.plan"}}, "meisa.E011", "['plan']"),
        ({"CUSTOM_FIELDS": {"plan": "no.such.module"}}, "meisa.E011", "['plan']"),
        ({"CUSTOM_FIELDS": {"plan": 3}}, "meisa.E011", "['plan']"),
        ({"TAG_NAMES": "tests.sync_callables.nope"}, "meisa.E012", "TAG_NAMES"),
        ({"MAPPER": "tests.sync_callables.NOT_CALLABLE"}, "meisa.E013", "MAPPER"),
        ({"EXTERNAL_ID_FIELD": "profile.nope"}, "meisa.E014", "EXTERNAL_ID_FIELD"),
        ({"SYNC_TRIGGERS": {"billing.Subscription": "user"}}, "meisa.E015", "billing"),
        ({"SYNC_TRIGGERS": {"testapp.Subscription": "owner"}}, "meisa.E016", "owner"),
        ({"SYNC_TRIGGERS": {"testapp.Subscription": "user.profile"}}, "meisa.E016", "Profile"),
        ({"SWEEP_AFTER": "soon"}, "meisa.E017", "SWEEP_AFTER"),
        ({"SYNC_MAX_RETRIES": -1}, "meisa.E017", "SYNC_MAX_RETRIES"),
    ],
)
def test_bad_entries_are_reported_by_name(settings, values, check_id, named):
    found = ids(settings, **values)
    assert [i for i, _ in found] == [check_id]
    assert named in found[0][1]


def test_mapper_with_declarative_settings_warns_they_are_ignored(settings):
    found = ids(
        settings, MAPPER="tests.sync_callables.mapper", CUSTOM_FIELDS={"plan": "profile.plan"}
    )
    assert [i for i, _ in found] == ["meisa.W010"]


def test_checks_run_through_manage_py_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.MEISA = {**settings.MEISA, "CUSTOM_FIELDS": {"plan": "profile.plann"}}
    with pytest.raises(SystemCheckError, match=r"meisa\.E011"):
        call_command("check")


def test_a_lease_shorter_than_a_request_warns(settings):
    found = ids(settings, SYNC_LEASE_TIMEOUT=5, TIMEOUT=(3, 10))
    assert [i for i, _ in found] == ["meisa.W011"]
    assert ids(settings, SYNC_LEASE_TIMEOUT=60, TIMEOUT=(3, 10)) == []
