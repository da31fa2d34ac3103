"""QA: issue #11 through the public API only (settings, refresh, wrapper, command)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import responses
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_meisa.exceptions import MeisaError, MeisaSuppressionNotLoaded
from django_meisa.suppression import is_suppressed, refresh_suppressions, suppress_locally
from django_meisa.testing import fake_meisa

pytestmark = pytest.mark.django_db

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
BASE = "https://api.meisa.io/api/v1"
LIST_URL = BASE + "/contacts/api/unsubscribed-emails/"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    from celery import current_app

    cache.clear()
    app = current_app._get_current_object()
    monkeypatch.setattr(app, "send_task", lambda *a, **kw: None)


def wrapped(**extra: Any) -> override_settings:
    return override_settings(
        EMAIL_BACKEND=WRAPPER, MEISA={**settings.MEISA, "EMAIL_BACKEND": LOCMEM, **extra}
    )


def send(*to: str, **options: Any) -> int:
    message = EmailMessage("S", "B", "from@example.com", list(to))
    return get_connection(**options).send_messages([message])


def delivered() -> set[str]:
    return {address for message in mail.outbox for address in message.recipients()}


def now_iso() -> str:
    return timezone.now().isoformat()


def load(*emails: str, as_of: str | None = None) -> Any:
    as_of = as_of or now_iso()
    body = {"as_of": as_of, "count": len(emails), "emails": list(emails)}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        return refresh_suppressions()


# 1. Never loaded -------------------------------------------------------------


def test_never_loaded_refuses_to_send():
    with wrapped(), pytest.raises(MeisaSuppressionNotLoaded):
        send("ada@example.com")
    assert mail.outbox == []


def test_never_loaded_fail_silently_still_sends_nothing():
    with wrapped():
        sent = send("ada@example.com", fail_silently=True)
    assert sent == 0
    assert mail.outbox == []


def test_never_loaded_local_entry_dropped_with_fail_open():
    suppress_locally("Grace <GRACE@Example.com>")
    with wrapped(SUPPRESSION_FAIL_OPEN=True):
        send("ada@example.com", "grace@example.com")
    assert delivered() == {"ada@example.com"}


def test_never_loaded_bypass_sends():
    message = EmailMessage("S", "B", "from@example.com", ["ada@example.com"])
    message.meisa_bypass_suppression = "password reset"
    with wrapped(SUPPRESSION_ALLOW_BYPASS=True):
        assert get_connection().send_messages([message]) == 1


# 5. Odd list entries: a listed address is never delivered ----------------------

LISTED = [
    ("Victim Two <V2@example.com>", "v2@example.com"),
    ('"q"@example.com', "q@example.com"),
    ("carl@example.com (old account)", "carl@example.com"),
    ("  Dora@Example.COM  ", "dora@example.com"),
    ("ada@Bücher.de", "ada@xn--bcher-kva.de"),
    ("eve@example.com.", "eve@example.com."),
]


@pytest.mark.parametrize(("entry", "recipient"), LISTED)
def test_listed_entry_is_never_delivered(entry, recipient):
    load(entry, "other@example.com")
    with wrapped():
        send(recipient, "ok@example.com")
    assert recipient.lower() not in {a.lower() for a in delivered()}
    assert "ok@example.com" in delivered()


RECIPIENT_FORMS = [
    "Grace Hopper <grace@example.com>",
    "GRACE@EXAMPLE.COM",
    '"grace"@example.com',
    "grace@example.com (work)",
    " grace@example.com ",
    "<grace@example.com>",
    "grace@EXAMPLE.com",
    '"Hopper, Grace" <grace@example.com>',
    "=?utf-8?q?Grace?= <grace@example.com>",
]


@pytest.mark.parametrize("recipient", RECIPIENT_FORMS)
def test_listed_address_under_any_recipient_form_is_not_delivered(recipient):
    load("grace@example.com")
    with wrapped():
        send(recipient, "ok@example.com")
    assert not any("grace" in a.lower() for a in delivered())


def test_unicode_domain_listed_as_idna_blocks_unicode_recipient():
    load("ada@xn--bcher-kva.de")
    with wrapped():
        send("ada@bücher.de", "ok@example.com")
    assert not any("ada@" in a for a in delivered())


def test_unicode_domain_listed_as_unicode_blocks_idna_recipient():
    load("ada@bücher.de")
    with wrapped():
        send("ada@xn--bcher-kva.de", "ok@example.com")
    assert not any("ada@" in a for a in delivered())


def test_bad_entries_are_rejected_and_rest_applied():
    result = load("good@example.com", "nul\x00@example.com", "lone\ud800@example.com", "a@b; c@d")
    assert result.rejected >= 3
    assert is_suppressed("good@example.com")


def test_multi_address_recipient_string_is_not_delivered_to_listed():
    load("c@example.com")
    with wrapped():
        send("a@example.com, c@example.com", "ok@example.com")
    assert "c@example.com" not in delivered()


# 3. Hostile as_of --------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-28T12:00:00", "not a date", ""],
)
def test_hostile_as_of_never_freezes_the_mirror(as_of):
    with contextlib.suppress(MeisaError):
        load("first@example.com", as_of=as_of)
    load("second@example.com")
    assert is_suppressed("second@example.com")


def test_as_of_far_past_then_present():
    load("old@example.com", as_of="1970-01-01T00:00:00Z")
    load("new@example.com")
    assert is_suppressed("new@example.com")


@pytest.mark.parametrize(
    "as_of", ["not a date", "2026-13-45T99:00:00Z", None, 12345, "", "0000-00-00"]
)
def test_malformed_as_of_is_a_meisa_error_not_a_crash(as_of):
    body = {"as_of": as_of, "count": 1, "emails": ["x@example.com"]}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        with contextlib.suppress(MeisaError):
            refresh_suppressions()


def test_command_with_future_as_of_then_genuine_list(capsys):
    body = {"as_of": "2099-01-01T00:00:00Z", "count": 1, "emails": ["x@example.com"]}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, json=body)
        call_command("meisa_refresh_suppressions")
    load("y@example.com")
    assert is_suppressed("y@example.com")


# 6. BASE_URL tricks --------------------------------------------------------------

HOSTILE_URLS = [
    "http://evil\\@localhost/api/v1",
    "http://evil\\@127.0.0.1/api/v1",
    "https://api.meisa.io@evil.example/api/v1",
    "http://user:pw@localhost/api/v1",
    "http://localhost\\@evil.example/api/v1",
    "http://localhost.evil.example/api/v1",
    "http://127.0.0.1.evil.example/api/v1",
    "http://localhost:80@evil.example/",
    "http://evil.example#@localhost/api/v1",
    "http://evil.example?@localhost/api/v1",
    "http://evil.example/@localhost/api/v1",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/api/v1",  # fullwidth
    "http://localhost%2f@evil.example/",
    "http://[::1]@evil.example/",
    "http://evil.example\t@localhost/",
    "http://evil.example\n@localhost/",
    " http://evil.example/",
    "HTTP://evil.example/",
    "http:evil.example",
    "http://0x7f000001@evil.example/",
    "ftp://localhost/",
    "http://2130706433/",
    "http://127.1/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_base_url_is_refused_by_checks(url):
    from django.core import checks

    with override_settings(MEISA={**settings.MEISA, "BASE_URL": url}):
        errors = [m for m in checks.run_checks(databases=[]) if m.id.startswith("meisa.E")]
    assert errors, url


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_base_url_never_sends_the_key(url):
    sent: list[Any] = []
    import requests

    original = requests.Session.send

    def spy(self, request, **kwargs):
        sent.append(request)
        raise requests.ConnectionError("blocked in test")

    with override_settings(MEISA={**settings.MEISA, "BASE_URL": url}):
        requests.Session.send = spy
        try:
            refresh_suppressions()
        except Exception as error:
            leaked = "meisa_test_key" in str(error)
        else:
            leaked = False
        finally:
            requests.Session.send = original
    assert not leaked
    assert not [r for r in sent if r.headers.get("X-API-Key")], (url, [r.url for r in sent])


def test_key_not_in_refresh_error_or_command_output(capsys):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, body="meisa_test_key", status=500)
        with pytest.raises(Exception) as info:  # noqa: PT011 - CommandError or MeisaError
            call_command("meisa_refresh_suppressions")
    out = capsys.readouterr()
    assert "meisa_test_key" not in str(info.value) + out.out + out.err


def test_sent_json_list_echoing_key():
    body = json.dumps({"as_of": "x", "emails": "meisa_test_key"})
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, body=body)
        try:
            refresh_suppressions()
        except MeisaError as error:
            message = str(error)
        else:
            message = ""
    assert "meisa_test_key" not in message


# Admin input ----------------------------------------------------------------------

ADMIN_OK = [
    ("Jane Doe <Jane@Example.com>", "jane@example.com"),
    ("<bob@example.com>", "bob@example.com"),
    ("carl@example.com (old account)", "carl@example.com"),
    ('"q"@example.com', "q@example.com"),
    ("  Frank@EXAMPLE.com\n", "frank@example.com"),
    ("ada@Bücher.de", "ada@xn--bcher-kva.de"),
]
ADMIN_BAD = [
    "dave@example.com; erin@example.com",
    "dave@example.com, erin@example.com",
    "a@b; c@d",
    "nul\x00@example.com",
    "no-at-sign",
    "",
    "   ",
    "x" * 600 + "@example.com",
    "group: a@example.com, b@example.com;",
    "undisclosed-recipients:;",
]


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model._default_manager.create_superuser(
        **{django_user_model.USERNAME_FIELD: "root@example.com"}
        | ({"email": "root@example.com"} if django_user_model.USERNAME_FIELD != "email" else {}),
        password="pw",
    )
    client.force_login(user)
    return client


ADD_URL = "/admin/django_meisa/suppressedemail/add/"


@pytest.mark.parametrize(("entered", "key"), ADMIN_OK)
def test_admin_add_then_never_delivered(staff, entered, key):
    response = staff.post(ADD_URL, {"email": entered, "reason": "asked"})
    assert response.status_code == 302, response.content[:2000]
    assert is_suppressed(key)
    load("unrelated@example.com")
    with wrapped():
        send(key, entered.strip(), "ok@example.com")
    assert delivered() == {"ok@example.com"}


@pytest.mark.parametrize("entered", ADMIN_BAD)
def test_admin_add_refuses_not_exactly_one_address(staff, entered):
    from django_meisa.models import SuppressedEmail

    response = staff.post(ADD_URL, {"email": entered, "reason": "asked"})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not SuppressedEmail.objects.exists()


@pytest.mark.parametrize(
    "address",
    ["Jane <jane@example.com>", "a@b; c@d", "nul\x00x@example.com", "x" * 5000, ""],
)
def test_admin_check_address_never_errors(staff, address):
    response = staff.get("/admin/django_meisa/suppressedemail/check/", {"address": address})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query", ["jane", "a@b; c@d", "nul\x00x", "Jane <jane@example.com>", "%", "_"]
)
def test_admin_search_never_errors(staff, query):
    suppress_locally("jane@example.com")
    response = staff.get("/admin/django_meisa/suppressedemail/", {"q": query})
    assert response.status_code == 200


def test_admin_check_says_local_entry_is_suppressed(staff):
    staff.post(ADD_URL, {"email": "Jane Doe <jane@example.com>", "reason": "asked"})
    response = staff.get(
        "/admin/django_meisa/suppressedemail/check/", {"address": "JANE@example.com"}
    )
    assert b"not sent" in response.content.lower() or b"suppressed" in response.content.lower()


def test_admin_changelist_never_loaded_banner(staff):
    response = staff.get("/admin/django_meisa/suppressedemail/")
    assert response.status_code == 200
    assert b"never" in response.content.lower()


def test_admin_refresh_with_500_shows_error_without_key(staff):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, body="meisa_test_key oops", status=500)
        response = staff.post("/admin/django_meisa/suppressedemail/refresh/", follow=True)
    assert response.status_code == 200
    assert b"meisa_test_key" not in response.content


# Stale ------------------------------------------------------------------------------


def test_stale_raise_sends_nothing_but_local_still_dropped():
    import time

    from django_meisa.exceptions import MeisaSuppressionStale

    load("listed@example.com")
    time.sleep(1.2)
    strict = wrapped(SUPPRESSION_MAX_AGE=1, SUPPRESSION_STALE_POLICY="raise")
    with strict, pytest.raises(MeisaSuppressionStale):
        send("ada@example.com")
    assert mail.outbox == []
    with wrapped(SUPPRESSION_MAX_AGE=1, SUPPRESSION_STALE_POLICY="warn"):
        send("ada@example.com", "listed@example.com", "LISTED@example.com")
    assert delivered() == {"ada@example.com"}


def test_stale_warn_sends_signal():
    import time

    from django_meisa.signals import suppression_stale

    seen: list[dict[str, Any]] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    suppression_stale.connect(receiver)
    try:
        load("listed@example.com")
        time.sleep(1.2)
        with wrapped(SUPPRESSION_MAX_AGE=1):
            send("ada@example.com")
    finally:
        suppression_stale.disconnect(receiver)
    assert seen
    assert seen[0]["loaded"] is True


def test_cc_bcc_and_alternatives_are_filtered():
    from django.core.mail import EmailMultiAlternatives

    load("cc@example.com", "bcc@example.com")
    message = EmailMultiAlternatives(
        "S",
        "B",
        "from@example.com",
        ["ok@example.com"],
        cc=["CC <CC@example.com>"],
        bcc=["bcc@EXAMPLE.com"],
    )
    message.attach_alternative("<p>B</p>", "text/html")
    with wrapped():
        get_connection().send_messages([message])
    assert delivered() == {"ok@example.com"}


def test_all_recipients_suppressed_message_not_sent():
    load("a@example.com")
    with wrapped():
        assert send("A <a@example.com>") == 0
    assert mail.outbox == []


def test_send_mail_shortcut_and_mass_mail():
    from django.core.mail import send_mail, send_mass_mail

    load("x@example.com")
    with wrapped():
        send_mail("S", "B", "f@example.com", ["x@example.com", "y@example.com"])
        send_mass_mail([("S", "B", "f@example.com", ["X@example.com"])])
    assert delivered() == {"y@example.com"}


@pytest.mark.skipif(__import__("django").VERSION < (6, 1), reason="MAILERS is Django 6.1+")
def test_mailers_never_loaded_refuses_and_listed_dropped():
    from django.core.mail import mailers

    config = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "mem"}},
        "mem": {"BACKEND": LOCMEM},
    }
    with override_settings(MAILERS=config, EMAIL_BACKEND=None):
        with pytest.raises(MeisaSuppressionNotLoaded):
            mailers.default.send_messages(
                [EmailMessage("S", "B", "f@example.com", ["a@example.com"])]
            )
        assert mail.outbox == []
        load('"Z" <z@example.com>')
        mailers.default.send_messages(
            [EmailMessage("S", "B", "f@example.com", ["a@example.com", "Z@EXAMPLE.com"])]
        )
    assert delivered() == {"a@example.com"}


# More states --------------------------------------------------------------------------


def test_empty_list_counts_as_loaded():
    load()
    with wrapped():
        assert send("ada@example.com") == 1


def test_failed_refresh_leaves_mirror_not_loaded():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, LIST_URL, status=503)
        refresh_suppressions()
    with wrapped(), pytest.raises(MeisaSuppressionNotLoaded):
        send("ada@example.com")


def test_all_entries_rejected_still_applies():
    result = load("a@b; c@d", "x\x00@example.com")
    assert result.rejected == 2
    with wrapped():
        assert send("ada@example.com") == 1


def test_upsert_status_suppresses_odd_cased_user_email():
    from django.contrib.auth import get_user_model

    from django_meisa import sync_contact_now

    model = get_user_model()
    fields = {"email": "Mixed.Case@Example.COM"}
    if model.USERNAME_FIELD != "email":
        fields[model.USERNAME_FIELD] = "mixed"
    with fake_meisa() as fake:
        user = model._default_manager.create_user(**fields)
        sync_contact_now(user.pk)
        fake.unsubscribe("Mixed.Case@Example.COM")
        sync_contact_now(user.pk, force=True)
    assert is_suppressed("mixed.case@example.com")
    load()
    with wrapped():
        send("Mixed <MIXED.case@example.com>", "ok@example.com")
    assert delivered() == {"ok@example.com"}


def test_timezone_less_and_offset_future_as_of():
    load("a@example.com", as_of="2026-11-28T10:00:00")
    far = (timezone.now() + __import__("datetime").timedelta(hours=10)).strftime(
        "%Y-%m-%dT%H:%M:%S-14:00"
    )
    load("b@example.com", as_of=far)
    load("c@example.com")
    assert is_suppressed("c@example.com")


LONG_DOMAIN = ".".join(["d" * 60] * 4) + ".example"  # 252 characters
ODD_BUT_VALID = [
    "l" * 64 + "@" + LONG_DOMAIN,
    "\U0001f600smile@example.com",
    "straße@example.com",
    "strasse@example.com",
    "ü@bücher.de",
    "a+tag@example.com",
    "first.last@sub.example.co.uk",
    "x@[127.0.0.1]",
]


@pytest.mark.parametrize("address", ODD_BUT_VALID)
def test_odd_valid_listed_address_is_stored_and_never_delivered(address):
    result = load(address, "other@example.com")
    with wrapped():
        send(address, "ok@example.com")
    assert delivered() == {"ok@example.com"}, result


def test_lookalike_keys_do_not_over_or_under_match():
    load("straße@example.com")
    with wrapped():
        send("strasse@example.com")
    assert delivered() == {"strasse@example.com"}


@pytest.mark.parametrize(
    "second",
    ["jane@example.com", "JANE@example.com", "Jane Doe <jane@EXAMPLE.com>", '"jane"@example.com'],
)
def test_admin_add_duplicate_in_another_form_is_a_form_error_not_500(staff, second):
    staff.post(ADD_URL, {"email": "jane@example.com", "reason": "asked"})
    response = staff.post(ADD_URL, {"email": second, "reason": "again"})
    assert response.status_code in (200, 302)


def test_admin_add_address_meisa_already_lists(staff):
    load("jane@example.com")
    response = staff.post(ADD_URL, {"email": "Jane <JANE@example.com>", "reason": "asked"})
    assert response.status_code in (200, 302)
    assert is_suppressed("jane@example.com")


def test_self_heal_requests_one_refresh_for_many_sends(monkeypatch):
    import time

    from celery import current_app

    names: list[str] = []
    app = current_app._get_current_object()
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: names.append(name))
    with wrapped():
        for _ in range(50):
            send("ada@example.com", fail_silently=True)
    time.sleep(0.5)
    assert names == ["django_meisa.tasks.refresh_suppressed_emails"]


def test_never_loaded_error_logged_once_for_many_sends(caplog):
    import logging

    caplog.set_level(logging.ERROR)
    with wrapped():
        for _ in range(30):
            send("ada@example.com", fail_silently=True)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "never" in r.getMessage()]
    assert len(errors) == 1


@pytest.mark.skipif(__import__("django").VERSION < (6, 1), reason="MAILERS is Django 6.1+")
def test_mailers_backend_option_style_filters_every_named_mailer():
    from django.core.mail import mailers

    config = {
        "default": {"BACKEND": WRAPPER, "OPTIONS": {"backend": LOCMEM, "options": {}}},
        "news": {"BACKEND": WRAPPER, "OPTIONS": {"mailer": "raw"}},
        "raw": {"BACKEND": LOCMEM},
    }
    load("Z <z@example.com>")
    with override_settings(MAILERS=config, EMAIL_BACKEND=None):
        for name in ("default", "news"):
            mailers[name].send_messages(
                [EmailMessage("S", "B", "f@example.com", ["a@example.com", "Z@EXAMPLE.com"])]
            )
    assert [m.recipients() for m in mail.outbox] == [["a@example.com"], ["a@example.com"]]
