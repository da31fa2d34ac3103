"""The UserSyncState admin: read-only status, permission-gated "sync now", no API key."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from django_meisa.models import UserSyncState
from tests.sync_support import make_user, state_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **options: None)


def staff(client, *, can_sync):
    user = make_user("staff", is_staff=True)
    perms = ["view_usersyncstate"] + (["sync_usersyncstate"] if can_sync else [])
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client.force_login(user)
    return user


def test_changelist_and_change_page_show_status_without_the_api_key(client, meisa_fake):
    staff(client, can_sync=True)
    member = make_user("member")
    changelist = client.get(reverse("admin:django_meisa_usersyncstate_changelist"))
    assert changelist.status_code == 200
    assert b"pending" in changelist.content
    page = client.get(
        reverse("admin:django_meisa_usersyncstate_change", args=[state_of(member).pk])
    )
    assert page.status_code == 200
    assert b"Sync now" in page.content
    assert b"lease_token" not in page.content
    for response in (changelist, page):
        assert b"meisa_test_key" not in response.content
    assert b'name="version"' not in page.content  # read-only, no inputs


def test_the_sync_now_button_forces_a_sync(client, meisa_fake):
    staff(client, can_sync=True)
    member = make_user("member")
    url = reverse("admin:django_meisa_usersyncstate_sync", args=[state_of(member).pk])
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert len(meisa_fake.upserts) == 1
    assert b"synced" in response.content
    client.post(url)
    assert len(meisa_fake.upserts) == 2  # forced, although nothing changed


def test_sync_now_needs_the_permission(client, meisa_fake):
    staff(client, can_sync=False)
    member = make_user("member")
    state = state_of(member)
    url = reverse("admin:django_meisa_usersyncstate_sync", args=[state.pk])
    assert client.post(url).status_code == 403
    page = client.get(reverse("admin:django_meisa_usersyncstate_change", args=[state.pk]))
    assert b"Sync now" not in page.content
    changelist = client.get(reverse("admin:django_meisa_usersyncstate_changelist"))
    assert b"sync_now" not in changelist.content
    assert meisa_fake.requests == []


def test_the_bulk_action_syncs_the_selection_and_reports_failures(client, meisa_fake):
    staff(client, can_sync=True)
    good, bad = make_user("good"), make_user("bad")
    meisa_fake.inject_fault("server_error", status=422, path="upsert")
    ids = sorted(UserSyncState.objects.filter(user__in=[good, bad]).values_list("pk", flat=True))
    response = client.post(
        reverse("admin:django_meisa_usersyncstate_changelist"),
        {"action": "sync_now", "_selected_action": ids},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "failed_permanent" in text
    assert "synced" in text
    assert len(meisa_fake.upserts) == 1


def test_no_add_or_delete(client):
    staff(client, can_sync=True)
    assert client.get(reverse("admin:django_meisa_usersyncstate_add")).status_code == 403


def test_the_read_only_page_offers_no_save_button_even_to_a_superuser(client, meisa_fake):
    admin = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    member = make_user("member")
    page = client.get(
        reverse("admin:django_meisa_usersyncstate_change", args=[state_of(member).pk])
    )
    assert page.status_code == 200
    assert b"Sync now" in page.content
    assert b'name="_save"' not in page.content
    assert b'name="_continue"' not in page.content


def test_the_status_filter_agrees_with_each_rows_status(client):
    staff(client, can_sync=False)
    users = {name: make_user(name) for name in ("pending", "failed", "synced")}
    UserSyncState.objects.filter(user=users["failed"]).update(failed_version=1)
    UserSyncState.objects.filter(user=users["synced"]).update(
        synced_version=1, last_synced_at=timezone.now()
    )
    for status in ("pending", "failed", "synced"):
        shown = (
            client.get(reverse("admin:django_meisa_usersyncstate_changelist"), {"status": status})
            .context["cl"]
            .result_list
        )
        mine = [row for row in shown if row.user_id in {u.pk for u in users.values()}]
        assert [row.user.username for row in mine] == [status]
        assert {row.status for row in shown} == {status}
