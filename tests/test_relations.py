"""Related models the mapper reads: their saves and deletes sync the user, with no setting."""

from __future__ import annotations

import pytest
from django.core.checks import Warning
from django.db import transaction

from django_meisa.contacts.checks import scope_messages
from django_meisa.contacts.relations import Route, related_user_pks, routes_for
from django_meisa.models import UserSyncState
from tests.sync_support import PRODUCTION_FIELDS, make_user
from tests.testapp.models import Profile, Subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch):
    sent: list = []
    monkeypatch.setattr(
        "django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: sent.extend(pks)
    )
    return sent


def meisa(settings, **values):
    settings.MEISA = {**settings.MEISA, **values}


def version(user):
    return UserSyncState.objects.get(user=user).version


def test_the_readme_example_follows_profile_without_sync_triggers(settings, published):
    meisa(settings, CUSTOM_FIELDS=PRODUCTION_FIELDS, SYNC_TRIGGERS={})
    assert routes_for(Profile) == (Route("testapp.Profile", "profile", "user_id"),)
    user = make_user("ada")
    profile = Profile.objects.create(user=user)
    before = version(user)
    published.clear()
    profile.signin_count = 27
    profile.save()
    assert version(user) == before + 1
    assert published == [user.pk]


def test_a_related_row_holding_the_users_key_costs_no_query(
    settings, published, django_assert_num_queries
):
    meisa(settings, CUSTOM_FIELDS={"plan": "profile.plan"})
    profile = Profile.objects.create(user=make_user("ada"))
    with django_assert_num_queries(0):
        assert related_user_pks(profile) == [profile.user_id]


def test_unmapped_models_and_sync_triggers_models_are_left_alone(settings, published):
    meisa(
        settings,
        CUSTOM_FIELDS={"plan": "profile.plan"},
        SYNC_TRIGGERS={"testapp.Profile": "user"},
    )
    assert routes_for(Profile) == ()  # SYNC_TRIGGERS names the path itself
    assert routes_for(Subscription) == ()


def test_deleting_a_related_row_syncs_its_user_after_the_commit(settings, published):
    meisa(settings, CUSTOM_FIELDS={"plan": "profile.plan"})
    user = make_user("ada")
    profile = Profile.objects.create(user=user)
    before = version(user)
    with transaction.atomic():
        profile.delete()
        assert version(user) == before  # not yet: the user may be in the same cascade
    assert version(user) == before + 1


def test_deleting_the_user_with_its_profile_requests_nothing_for_it(settings, published):
    meisa(settings, CUSTOM_FIELDS={"plan": "profile.plan"})
    user = make_user("ada")
    Profile.objects.create(user=user)
    published.clear()
    user.delete()
    assert published == []
    assert not UserSyncState.objects.exists()


def test_a_mapper_declares_its_relations(settings, published):
    meisa(
        settings,
        MAPPER="tests.sync_callables.mapper",
        MAPPER_RELATIONS=["subscriptions"],
    )
    user = make_user("ada")
    before = version(user)
    Subscription.objects.create(user=user, plan="pro")
    assert version(user) == before + 1
    assert scope_messages() == []


def test_a_mapper_without_declared_relations_is_warned_about(settings):
    meisa(settings, MAPPER="tests.sync_callables.mapper")
    assert [m.id for m in scope_messages()] == ["meisa.W070"]
    assert isinstance(scope_messages()[0], Warning)
    meisa(settings, MAPPER_RELATIONS=[])
    assert scope_messages() == []


def test_a_declared_relation_that_is_not_one_is_an_error(settings):
    meisa(settings, MAPPER="tests.sync_callables.mapper", MAPPER_RELATIONS=["profile.plan"])
    [message] = scope_messages()
    assert message.id == "meisa.E072"
    assert "'plan' is not a relation of Profile" in message.msg
