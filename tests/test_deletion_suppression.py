"""Deleted users' opt-in local suppression (SUPPRESS_DELETED_USERS), after the commit only."""

from __future__ import annotations

import pytest

from django_meisa.models import SuppressedEmail
from django_meisa.suppression import is_suppressed
from tests.sync_support import make_user
from tests.test_deletion import rolled_back_delete

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_sync_publish(monkeypatch):
    monkeypatch.setattr("django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: None)


def test_opt_in_local_suppression_of_the_deleted_address(settings):
    make_user("ada").delete()
    assert not SuppressedEmail.objects.exists()  # off by default
    settings.MEISA = {**settings.MEISA, "SUPPRESS_DELETED_USERS": True}
    make_user("bob", email="Bob@Example.com").delete()
    entry = SuppressedEmail.objects.get()
    assert entry.source == SuppressedEmail.Source.LOCAL
    assert entry.reason == "account deleted"
    assert is_suppressed("bob@example.com")


def test_a_rolled_back_delete_suppresses_nothing(settings):
    settings.MEISA = {**settings.MEISA, "SUPPRESS_DELETED_USERS": True}
    user = make_user("ada")
    with pytest.raises(RuntimeError, match="rollback"):
        rolled_back_delete(user, [], [])
    assert not SuppressedEmail.objects.exists()
