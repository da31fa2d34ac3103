"""meisa_sweep: a cron-only site runs the sweep once; counts printed, exit status."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_meisa.models import UserSyncState
from tests.sync_support import make_user

pytestmark = pytest.mark.django_db


def test_pending_syncs_are_reenqueued_and_counted(monkeypatch):
    published = []
    monkeypatch.setattr(
        "django_meisa.contacts.requests.publish_syncs", lambda pks, **kw: published.extend(pks)
    )
    user = make_user("ada")
    published.clear()
    old = timezone.now() - dt.timedelta(hours=1)
    UserSyncState.objects.filter(user=user).update(pending_since=old)
    monkeypatch.setattr("django_meisa.contacts.sweep.publish_syncs", published.extend)
    out = StringIO()
    call_command("meisa_sweep", stdout=out)
    assert "re-enqueued 1 pending sync(s), 0 deletion(s)" in out.getvalue()
    assert published == [user.pk]


def test_disabled_exits_non_zero(settings):
    settings.MEISA = {**settings.MEISA, "ENABLED": False}
    with pytest.raises(CommandError, match="ENABLED"):
        call_command("meisa_sweep", stdout=StringIO())
