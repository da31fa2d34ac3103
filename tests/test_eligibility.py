"""Who is synced: SYNC_USERS_FILTER in SQL, SHOULD_SYNC_USER in Python, and their checks."""

from __future__ import annotations

import pytest
from django.core.checks import Error
from django.db.models import Q

from django_meisa.contacts.checks import scope_messages
from django_meisa.contacts.eligibility import (
    DELETED,
    INELIGIBLE,
    eligible_users,
    is_eligible,
    load_user_for_sync,
)
from django_meisa.exceptions import MeisaMappingError
from tests.sync_support import make_user
from tests.testapp.models import Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def meisa(settings, **values):
    settings.MEISA = {**settings.MEISA, **values}


def not_staff(user):
    return not user.is_staff


def raising(user):
    raise RuntimeError(f"secret {user.email}")


def test_everyone_is_eligible_by_default(settings):
    staff = make_user("boss", is_staff=True)
    assert is_eligible(staff)
    assert load_user_for_sync(staff.pk) == (staff, None)


def test_the_filter_runs_in_sql_and_tells_ineligible_from_deleted(settings):
    meisa(settings, SYNC_USERS_FILTER={"is_active": True})
    active, inactive = make_user("ada"), make_user("bob", is_active=False)
    assert list(eligible_users()) == [active]
    assert load_user_for_sync(active.pk) == (active, None)
    assert load_user_for_sync(inactive.pk) == (None, INELIGIBLE)
    assert load_user_for_sync(10_000) == (None, DELETED)


def test_an_eligible_user_costs_one_query(settings, django_assert_num_queries):
    meisa(settings, SYNC_USERS_FILTER=Q(is_active=True))
    user = make_user("ada")
    with django_assert_num_queries(1):
        assert load_user_for_sync(user.pk)[0] == user


def test_a_lookup_across_a_to_many_relation_never_repeats_a_user(settings):
    meisa(settings, SYNC_USERS_FILTER={"subscriptions__active": True})
    user = make_user("ada")
    Subscription.objects.create(user=user, plan="a")
    Subscription.objects.create(user=user, plan="b")
    make_user("bob")
    assert list(eligible_users().values_list("pk", flat=True)) == [user.pk]


def test_the_callable_is_asked_after_the_filter(settings):
    meisa(settings, SHOULD_SYNC_USER="tests.test_eligibility.not_staff")
    staff, member = make_user("boss", is_staff=True), make_user("ada")
    assert load_user_for_sync(staff.pk) == (None, INELIGIBLE)
    assert load_user_for_sync(member.pk) == (member, None)


def test_a_raising_callable_is_a_mapping_error_without_the_users_data(settings):
    meisa(settings, SHOULD_SYNC_USER=raising)
    user = make_user("ada")
    with pytest.raises(MeisaMappingError) as caught:
        is_eligible(user)
    assert "RuntimeError" in str(caught.value)
    assert "ada@example.com" not in str(caught.value)


def test_checks_report_a_bad_filter_and_a_bad_callable(settings):
    meisa(settings, SYNC_USERS_FILTER={"no_such_field": 1}, SHOULD_SYNC_USER="tests.nowhere.f")
    ids = [message.id for message in scope_messages()]
    assert ids == ["meisa.E070", "meisa.E071"]
    meisa(settings, SYNC_USERS_FILTER=["is_active"], SHOULD_SYNC_USER=None)
    assert scope_messages() == [
        Error(
            'MEISA["SYNC_USERS_FILTER"] must be None, a dict of field lookups or a Q object, '
            "not list.",
            id="meisa.E070",
        )
    ]


def test_checks_accept_good_settings(settings):
    meisa(
        settings,
        SYNC_USERS_FILTER={"is_active": True, "profile__plan__in": ["pro"]},
        SHOULD_SYNC_USER="tests.test_eligibility.not_staff",
    )
    assert scope_messages() == []
