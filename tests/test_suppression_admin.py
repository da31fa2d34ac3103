"""The suppression admin: list, search, filters, read-only Meisa rows, refresh now, checker."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from django_meisa.models import SuppressedEmail, SuppressionRefreshState

pytestmark = pytest.mark.django_db

LIST = "admin:django_meisa_suppressedemail_changelist"
ADD = "admin:django_meisa_suppressedemail_add"
REFRESH = "admin:meisa_refresh"
CHECK = "admin:meisa_check_address"


def change_url(row: SuppressedEmail) -> str:
    return reverse("admin:django_meisa_suppressedemail_change", args=[row.pk])


def delete_url(row: SuppressedEmail) -> str:
    return reverse("admin:django_meisa_suppressedemail_delete", args=[row.pk])


@pytest.fixture
def rows() -> dict[str, SuppressedEmail]:
    return {
        "meisa": SuppressedEmail.objects.create(email="listed@example.com"),
        "idn": SuppressedEmail.objects.create(email="ada@xn--bcher-kva.de"),
        "local": SuppressedEmail.objects.create(email="local@example.com", source="local"),
    }


def staff_client(client: Any, django_user_model: Any, *codenames: str) -> Any:
    user = django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_list_shows_rows_and_the_refresh_state(admin_client, rows):
    SuppressionRefreshState.objects.create(
        pk=1, count=2, withheld=7, last_error="MeisaServerError: boom"
    )
    page = admin_client.get(reverse(LIST)).content.decode()
    assert "listed@example.com" in page
    assert "local@example.com" in page
    assert "meisa-refresh-state" in page
    assert "boom" in page
    assert "<strong>7</strong>" in page
    assert "Refresh now" in page


def test_search_matches_the_normalized_form(admin_client, rows):
    page = admin_client.get(reverse(LIST), {"q": "Ada@BÜCHER.de"}).content.decode()
    assert "ada@xn--bcher-kva.de" in page
    assert "listed@example.com" not in page


def test_filter_by_source(admin_client, rows):
    page = admin_client.get(reverse(LIST), {"source__exact": "local"}).content.decode()
    assert "local@example.com" in page
    assert "listed@example.com" not in page


def test_last_confirmed_comes_from_the_state_for_listed_rows(admin_client, rows):
    import datetime as dt

    as_of = dt.datetime(2030, 5, 6, 7, 8, tzinfo=dt.timezone.utc)
    SuppressionRefreshState.objects.create(pk=1, as_of=as_of)
    page = admin_client.get(reverse(LIST)).content.decode()
    assert "May 6, 2030" in page


def test_each_listing_mark_shows_under_its_own_label(admin_client, rows):
    import datetime as dt

    withheld = dt.datetime(2030, 4, 3, 2, 1, tzinfo=dt.timezone.utc)
    SuppressedEmail.objects.filter(pk=rows["meisa"].pk).update(withheld_last_listed=withheld)
    SuppressedEmail.objects.filter(pk=rows["local"].pk).update(meisa_lists_too=True)
    meisa_page = admin_client.get(change_url(rows["meisa"])).content.decode()
    assert "withheld; last listed as of" in meisa_page.lower()
    assert "April 3, 2030" in meisa_page
    local_page = admin_client.get(change_url(rows["local"])).content.decode()
    assert "Meisa lists it too" in local_page
    assert 'alt="True"' in local_page


def test_meisa_rows_are_read_only(admin_client, rows):
    page = admin_client.get(change_url(rows["meisa"])).content.decode()
    assert 'name="_save"' not in page
    response = admin_client.post(change_url(rows["meisa"]), {"email": "x@y.com", "reason": "x"})
    assert response.status_code == 403
    assert admin_client.post(delete_url(rows["meisa"]), {"post": "yes"}).status_code == 403
    assert SuppressedEmail.objects.filter(email="listed@example.com").exists()


def test_add_a_local_entry_normalizes_it(admin_client):
    response = admin_client.post(
        reverse(ADD), {"email": "  New@BÜCHER.de ", "reason": "phone call"}
    )
    assert response.status_code == 302
    row = SuppressedEmail.objects.get(email="new@xn--bcher-kva.de")
    assert (row.source, row.reason) == ("local", "phone call")


def test_adding_an_existing_address_is_refused(admin_client, rows):
    response = admin_client.post(reverse(ADD), {"email": "LISTED@example.com", "reason": ""})
    assert response.status_code == 200
    assert "already suppressed" in response.content.decode()


def test_local_entries_can_be_deleted(admin_client, rows):
    assert admin_client.post(delete_url(rows["local"]), {"post": "yes"}).status_code == 302
    assert not SuppressedEmail.objects.filter(source="local").exists()


def test_bulk_delete_only_removes_local_entries(admin_client, rows):
    data = {
        "action": "delete_local_entries",
        "_selected_action": [r.pk for r in rows.values()],
    }
    response = admin_client.post(reverse(LIST), data, follow=True)
    assert "Skipped 2 Meisa entries" in response.content.decode()
    assert set(SuppressedEmail.objects.values_list("email", flat=True)) == {
        "listed@example.com",
        "ada@xn--bcher-kva.de",
    }


def test_refresh_now_runs_the_refresh_and_reports(admin_client, meisa_fake, rows):
    meisa_fake.add_unsubscribed("listed@example.com", "fresh@example.com")
    response = admin_client.post(reverse(REFRESH), follow=True)
    page = response.content.decode()
    assert "Refreshed: added 1, confirmed 1, removed 1, withheld 0" in page
    assert SuppressedEmail.objects.filter(email="fresh@example.com").exists()


def test_refresh_now_reports_a_failure(admin_client, meisa_fake, rows):
    meisa_fake.inject_fault("server_error")
    page = admin_client.post(reverse(REFRESH), follow=True).content.decode()
    assert "Refresh failed; the list is unchanged" in page
    assert SuppressedEmail.objects.count() == 3


def test_refresh_now_is_post_only(admin_client):
    assert admin_client.get(reverse(REFRESH)).status_code == 405


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Someone <LISTED@example.com>", "Suppressed"),
        ("ada@bücher.de", "Suppressed"),
        ("fine@example.com", "Not suppressed"),
        ("a@example.com, listed@example.com", "Not exactly one valid address"),
    ],
)
def test_check_an_address(admin_client, rows, address, expected):
    page = admin_client.get(reverse(CHECK), {"address": address}).content.decode()
    assert expected in page


def test_check_names_the_entry_and_its_source(admin_client, rows):
    page = admin_client.get(reverse(CHECK), {"address": "local@EXAMPLE.com"}).content.decode()
    assert "Matches the Local entry" in page
    assert "<code>local@example.com</code>" in page


# Permissions ----------------------------------------------------------------------------------


def test_staff_without_permissions_sees_nothing(client, django_user_model, rows):
    staff = staff_client(client, django_user_model)
    assert staff.get(reverse(LIST)).status_code == 403
    assert staff.get(reverse(CHECK), {"address": "listed@example.com"}).status_code == 403
    assert staff.post(reverse(REFRESH)).status_code == 403


def test_view_permission_allows_list_and_check_but_not_refresh_or_add(
    client, django_user_model, rows, meisa_fake
):
    staff = staff_client(client, django_user_model, "view_suppressedemail")
    page = staff.get(reverse(LIST)).content.decode()
    assert "listed@example.com" in page
    assert "Refresh now" not in page
    assert staff.get(reverse(CHECK), {"address": "listed@example.com"}).status_code == 200
    assert staff.post(reverse(REFRESH)).status_code == 403
    assert staff.get(reverse(ADD)).status_code == 403
    assert staff.post(delete_url(rows["local"]), {"post": "yes"}).status_code == 403
    assert not meisa_fake.requests


def test_refresh_permission_allows_refresh_now(client, django_user_model, meisa_fake):
    staff = staff_client(
        client, django_user_model, "view_suppressedemail", "refresh_suppressedemail"
    )
    meisa_fake.add_unsubscribed("a@example.com")
    assert staff.post(reverse(REFRESH)).status_code == 302
    assert SuppressedEmail.objects.filter(email="a@example.com").exists()


def test_add_and_delete_permissions_manage_local_entries(client, django_user_model, rows):
    staff = staff_client(
        client,
        django_user_model,
        "view_suppressedemail",
        "add_suppressedemail",
        "delete_suppressedemail",
    )
    assert staff.post(reverse(ADD), {"email": "n@example.com", "reason": ""}).status_code == 302
    assert staff.post(delete_url(rows["local"]), {"post": "yes"}).status_code == 302
    assert staff.post(delete_url(rows["meisa"]), {"post": "yes"}).status_code == 403


def test_deleting_a_local_entry_meisa_also_lists_hands_it_over(admin_client, meisa_fake, rows):
    meisa_fake.add_unsubscribed("listed@example.com", "ada@xn--bcher-kva.de", "local@example.com")
    admin_client.post(reverse(REFRESH))
    response = admin_client.post(delete_url(rows["local"]), {"post": "yes"}, follow=True)
    assert "stay suppressed" in response.content.decode()
    row = SuppressedEmail.objects.get(email="local@example.com")
    assert row.source == "meisa"
    meisa_fake.remove_unsubscribed("local@example.com")
    admin_client.post(reverse(REFRESH))
    assert not SuppressedEmail.objects.filter(email="local@example.com").exists()


def test_deleting_a_local_entry_an_upsert_reported_keeps_it_suppressed(admin_client, rows):
    from django_meisa.suppression import is_suppressed, suppress_contact_status

    suppress_contact_status("local@example.com", "bounced")
    data = {"action": "delete_local_entries", "_selected_action": [rows["local"].pk]}
    admin_client.post(reverse(LIST), data)
    assert is_suppressed("local@example.com")
    assert SuppressedEmail.objects.get(email="local@example.com").source == "meisa"


# #11: one address per entry, stored under the key lookups use --------------------------


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ("<bob@example.com>", "bob@example.com"),
        ("carl@example.com (old account)", "carl@example.com"),
        ('"q"@Example.com', "q@example.com"),
    ],
)
def test_added_entries_are_stored_under_their_key_and_then_suppress(admin_client, typed, key):
    response = admin_client.post(reverse(ADD), {"email": typed, "reason": "asked"})
    assert response.status_code == 302
    assert SuppressedEmail.objects.get(email=key).source == "local"
    verdict = admin_client.get(reverse(CHECK), {"address": typed}).context["verdict"]
    assert verdict.suppressed
    assert verdict.entry.email == key


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("dave@example.com; erin@example.com", "several addresses"),
        ("dave@example.com, erin@example.com", "several addresses"),
        ("dave", "no @domain"),
        ('"a."@example.com', "not exactly one valid address"),
    ],
)
def test_the_add_form_refuses_anything_but_one_address_and_says_why(admin_client, typed, why):
    response = admin_client.post(reverse(ADD), {"email": typed, "reason": ""})
    assert response.status_code == 200
    assert why in response.content.decode()
    assert not SuppressedEmail.objects.exists()


def test_the_changelist_shows_a_banner_while_the_mirror_was_never_loaded(admin_client):
    page = admin_client.get(reverse(LIST)).content.decode()
    assert 'id="meisa-mirror-banner"' in page
    assert "has never been loaded" in page


def test_no_banner_once_a_refresh_succeeded(admin_client, meisa_fake):
    admin_client.post(reverse(REFRESH))
    page = admin_client.get(reverse(LIST)).content.decode()
    assert 'id="meisa-mirror-banner"' not in page


def test_a_stale_mirror_is_marked_stale_in_the_banner_and_the_state_panel(admin_client):
    import datetime as dt

    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    SuppressionRefreshState.objects.create(pk=1, last_success_at=long_ago)
    page = admin_client.get(reverse(LIST)).content.decode()
    assert 'id="meisa-mirror-banner"' in page
    assert "is stale" in page
    assert '<strong class="errornote">stale</strong>' in page
