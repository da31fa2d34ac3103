"""The mapper: settings-defined fields, custom MAPPER, errors naming the entry, fingerprints."""

from __future__ import annotations

import datetime as dt

import pytest

from django_meisa.contacts.decide import payload_fingerprint
from django_meisa.contacts.mapping import build_contact_payload, classify_spec
from django_meisa.exceptions import MeisaMappingError, MeisaNoEmailError
from tests.sync_support import PRODUCTION_FIELDS, make_user
from tests.testapp.models import Profile, Subscription

pytestmark = pytest.mark.django_db


def configure(settings, **values):
    settings.MEISA = {**settings.MEISA, **values}


def test_default_payload_has_email_external_id_and_names(settings):
    user = make_user("ada", first_name="Ada", last_name="Lovelace")
    payload = build_contact_payload(user)
    assert payload == {
        "email": "ada@example.com",
        "external_id": str(user.pk),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "custom_fields": {},
    }
    assert "source" not in payload


def test_the_production_example_is_expressible_in_settings_alone(settings):
    configure(settings, CUSTOM_FIELDS=PRODUCTION_FIELDS)
    user = make_user("sarah")
    user.date_joined = dt.datetime(2026, 1, 12, 8, 30, tzinfo=dt.timezone.utc)
    user.last_login = dt.datetime(2026, 6, 1, 14, 5, tzinfo=dt.timezone.utc)
    user.save()
    Profile.objects.create(
        user=user,
        plan="pro",
        billing_cycle="annual",
        signin_count=27,
        onboarding_completed=True,
        country="PK",
        job_title="Founder",
        ideas_generated=42,
        posts_generated=15,
        referral_source="twitter",
    )
    user.refresh_from_db()
    assert build_contact_payload(user)["custom_fields"] == {
        "plan": "pro",
        "billing_cycle": "annual",
        "signup_date": "2026-01-12T08:30:00Z",
        "last_active": "2026-06-01T14:05:00Z",
        "signin_count": 27,
        "onboarding_completed": True,
        "country": "PK",
        "job_title": "Founder",
        "ideas_generated": 42,
        "posts_generated": 15,
        "referral_source": "twitter",
    }


def test_missing_related_object_and_never_logged_in_give_null(settings):
    configure(settings, CUSTOM_FIELDS={"plan": "profile.plan", "last_active": "last_login"})
    user = make_user("noprofile")
    assert build_contact_payload(user)["custom_fields"] == {"plan": None, "last_active": None}


def test_methods_on_the_path_are_called_and_callables_receive_the_user(settings):
    configure(
        settings,
        CUSTOM_FIELDS={
            "subscriptions": "subscriptions.count",
            "label": "tests.sync_callables.plan_label",
            "full_name": "get_full_name",
        },
    )
    user = make_user("bob", first_name="Bob", last_name="Smith")
    Subscription.objects.create(user=user, plan="pro")
    assert build_contact_payload(user)["custom_fields"] == {
        "subscriptions": 1,
        "label": "plan-of-bob",
        "full_name": "Bob Smith",
    }


def test_tag_names_from_a_callable_sets_are_sorted(settings):
    configure(settings, TAG_NAMES="tests.sync_callables.tags")
    assert build_contact_payload(make_user("staff", is_staff=True))["tag_names"] == [
        "a-tag",
        "b-tag",
    ]
    assert build_contact_payload(make_user("member"))["tag_names"] == ["member"]


def test_external_id_field_and_name_fields_are_configurable(settings):
    configure(settings, EXTERNAL_ID_FIELD="username", FIRST_NAME_FIELD=None, LAST_NAME_FIELD=None)
    payload = build_contact_payload(make_user("carol", first_name="Carol"))
    assert payload["external_id"] == "carol"
    assert "first_name" not in payload
    assert "last_name" not in payload


def test_custom_mapper_has_full_control_but_never_sets_source(settings):
    configure(settings, MAPPER="tests.sync_callables.mapper")
    user = make_user("dave")
    assert build_contact_payload(user) == {
        "email": "dave@example.com",
        "external_id": f"usr_{user.pk}",
        "display_name": "Dave",
        "custom_fields": {"plan": "custom"},
    }


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"MAPPER": "tests.sync_callables.junk_mapper"}, 'MEISA["MAPPER"]'),
        ({"MAPPER": "tests.sync_callables.exploding"}, 'MEISA["MAPPER"]'),
        ({"MAPPER": "tests.sync_callables.missing"}, 'MEISA["MAPPER"]'),
        ({"MAPPER": "tests.sync_callables.NOT_CALLABLE"}, 'MEISA["MAPPER"]'),
        ({"MAPPER": "tests.sync_callables.mapper_with_status"}, 'MEISA["MAPPER"]'),
        ({"CUSTOM_FIELDS": {"x": "profile.nope"}}, 'MEISA["CUSTOM_FIELDS"]["x"]'),
        ({"CUSTOM_FIELDS": {"x": "tests.sync_callables.exploding"}}, '["CUSTOM_FIELDS"]["x"]'),
        ({"CUSTOM_FIELDS": {"x": "groups"}}, 'MEISA["CUSTOM_FIELDS"]["x"]'),
        ({"CUSTOM_FIELDS": {"x": ""}}, 'MEISA["CUSTOM_FIELDS"]["x"]'),
        ({"TAG_NAMES": "tests.sync_callables.bad_tags"}, 'MEISA["TAG_NAMES"]'),
        ({"EXTERNAL_ID_FIELD": "nope"}, 'MEISA["EXTERNAL_ID_FIELD"]'),
    ],
)
def test_mapper_errors_name_the_entry_and_hold_no_personal_data(settings, values, named):
    configure(settings, **values)
    user = make_user("erin")
    Profile.objects.create(user=user)
    with pytest.raises(MeisaMappingError) as info:
        build_contact_payload(user)
    assert named in str(info.value)
    assert "erin@example.com" not in str(info.value)


def test_a_user_without_email_raises_no_email(settings):
    with pytest.raises(MeisaNoEmailError):
        build_contact_payload(make_user("nomail", email=""))


def test_an_invalid_email_is_a_mapping_error_not_a_skip(settings):
    with pytest.raises(MeisaMappingError, match="email"):
        build_contact_payload(make_user("bad", email="not-an-address"))


def test_classify_spec_prefers_user_attributes_over_import_paths():
    from django.contrib.auth.models import User

    assert classify_spec("profile.plan", User) == ("attribute", "profile.plan")
    assert classify_spec("date_joined", User) == ("attribute", "date_joined")
    assert classify_spec("myapp.meisa.plan", User) == ("callable", "myapp.meisa.plan")


def test_fingerprint_ignores_source_and_key_order():
    one = {"email": "a@example.com", "custom_fields": {"a": 1, "b": 2}, "source": "signup"}
    two = {"custom_fields": {"b": 2, "a": 1}, "email": "a@example.com", "source": "api"}
    assert payload_fingerprint(one) == payload_fingerprint(two)
    changed = {**two, "custom_fields": {"a": 1, "b": 3}}
    assert payload_fingerprint(changed) != payload_fingerprint(two)
    assert len(payload_fingerprint(one)) == 64


def test_no_email_wins_over_a_failing_field(settings):
    configure(settings, CUSTOM_FIELDS={"x": "tests.sync_callables.exploding"})
    with pytest.raises(MeisaNoEmailError):
        build_contact_payload(make_user("nomail", email=""))
