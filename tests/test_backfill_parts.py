"""The backfill's parts on their own: rate limiters, retry policy, sender, progress, report."""

from __future__ import annotations

import io
import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.test import override_settings

from django_meisa.backfill.ratelimit import CacheRateLimiter, TokenBucket
from django_meisa.backfill.report import (
    BackfillProgress,
    MeisaBackfillCounts,
    MeisaBackfillResult,
    format_duration,
    format_summary,
    write_failures_csv,
)
from django_meisa.backfill.sending import send_upsert
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaRateLimitError,
    MeisaRequestError,
    MeisaServerError,
)
from django_meisa.retry import MeisaRetryPolicy

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


class ScriptedClient:
    """Raises the scripted errors in order, then returns a contact."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def upsert_contact(self, payload):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"id": "c1", "email": payload["email"], "status": "active"}


NO_WAIT = MeisaRetryPolicy(retries=2, backoff=0.0)


def test_token_bucket_caps_the_rate_across_threads():
    bucket = TokenBucket(50, burst=1)
    taken = []

    def take():
        for _ in range(10):
            bucket.acquire()
            taken.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 tokens at 50/s with a burst of 1 need at least 39/50 s.
    assert len(taken) == 40
    assert time.monotonic() - started >= 0.75


def test_token_bucket_without_rate_never_waits():
    bucket = TokenBucket(None)
    started = time.monotonic()
    for _ in range(1000):
        assert bucket.acquire()
    assert time.monotonic() - started < 0.5


def test_a_pause_holds_back_every_caller():
    bucket = TokenBucket(None)
    bucket.pause(0.3)
    started = time.monotonic()
    bucket.acquire()
    assert time.monotonic() - started >= 0.28


def test_acquire_gives_up_when_stopped():
    bucket = TokenBucket(None)
    bucket.pause(30)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert bucket.acquire(stop) is False


@override_settings(CACHES=LOCMEM)
def test_cache_rate_limiter_shares_one_window_between_instances():
    first = CacheRateLimiter(5, key="meisa:test:shared")
    second = CacheRateLimiter(5, key="meisa:test:shared")
    # Start at the beginning of a second, so the window does not roll over mid-test.
    time.sleep(1 - (time.time() % 1))
    started = time.monotonic()
    for limiter in (first, second) * 3:
        limiter.acquire()
    # Six requests at 5/s across both: the sixth waits for the next second.
    assert time.monotonic() - started >= 0.5


@override_settings(CACHES=LOCMEM)
def test_cache_rate_limiter_shares_a_429_pause():
    CacheRateLimiter(None, key="meisa:test:pause").pause(0.4)
    started = time.monotonic()
    CacheRateLimiter(None, key="meisa:test:pause").acquire()
    assert time.monotonic() - started >= 0.3


def test_send_retries_5xx_then_succeeds():
    client = ScriptedClient(MeisaServerError("down", status_code=503))
    result = send_upsert(client, {"email": "a@b.c"}, limiter=TokenBucket(), policy=NO_WAIT)
    assert result.contact is not None
    assert client.calls == 2


def test_send_gives_up_after_the_retries():
    errors = [MeisaServerError("down", status_code=500) for _ in range(5)]
    client = ScriptedClient(*errors)
    result = send_upsert(client, {"email": "a@b.c"}, limiter=TokenBucket(), policy=NO_WAIT)
    assert result.contact is None
    assert client.calls == 3
    assert "MeisaServerError" in result.error
    assert result.exception is not None
    assert result.exception.retryable


def test_send_fails_a_4xx_at_once_with_the_reason():
    client = ScriptedClient(MeisaRequestError("Meisa POST returned HTTP 422", status_code=422))
    result = send_upsert(client, {"email": "a@b.c"}, limiter=TokenBucket(), policy=NO_WAIT)
    assert client.calls == 1
    assert "422" in result.error


def test_send_waits_out_429s_without_counting_them_as_failures():
    errors = [MeisaRateLimitError("slow down", retry_after=0.0) for _ in range(6)]
    client = ScriptedClient(*errors)
    bucket = TokenBucket()
    with mock.patch.object(bucket, "pause", wraps=bucket.pause) as pause:
        result = send_upsert(client, {"email": "a@b.c"}, limiter=bucket, policy=NO_WAIT)
    assert result.contact is not None
    assert pause.call_count == 6


def test_a_429s_retry_after_is_capped():
    policy = MeisaRetryPolicy(retry_after_max=60)
    assert policy.pause_for(MeisaRateLimitError("x", retry_after=99999)) == 60
    assert policy.pause_for(MeisaRateLimitError("x", retry_after=None)) == policy.base


def test_backoff_grows_and_is_capped():
    policy = MeisaRetryPolicy(backoff=1, backoff_max=8)
    assert 0.5 <= policy.backoff_for(1) <= 1
    assert 4 <= policy.backoff_for(4) <= 8
    assert 4 <= policy.backoff_for(30) <= 8


def test_an_auth_error_is_fatal():
    client = ScriptedClient(MeisaAuthError("bad key", status_code=401))
    result = send_upsert(client, {"email": "a@b.c"}, limiter=TokenBucket(), policy=NO_WAIT)
    assert isinstance(result.fatal, MeisaAuthError)
    assert client.calls == 1


def test_no_request_starts_after_the_lease_deadline():
    client = ScriptedClient()
    result = send_upsert(
        client,
        {"email": "a@b.c"},
        limiter=TokenBucket(),
        policy=NO_WAIT,
        window=SimpleNamespace(send_deadline=time.monotonic() - 1),
    )
    assert result.expired
    assert client.calls == 0


def test_stop_during_backoff_leaves_the_user_unsent():
    client = ScriptedClient(MeisaServerError("down", status_code=500))
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    policy = MeisaRetryPolicy(retries=3, backoff=30)
    result = send_upsert(
        client, {"email": "a@b.c"}, limiter=TokenBucket(), policy=policy, stop=stop
    )
    assert result.not_sent


def test_plain_progress_lines_off_a_tty():
    stream = io.StringIO()
    progress = BackfillProgress(stream, total=200, done_before=50, interval=0, tty=False)
    progress.update(MeisaBackfillCounts(synced=40, failed=10))
    line = stream.getvalue()
    assert line.startswith("meisa_backfill: 100/200  50%")
    assert "failed 10" in line
    assert line.endswith("\n")
    assert "\r" not in line


def test_a_redrawn_bar_on_a_tty():
    stream = io.StringIO()
    progress = BackfillProgress(stream, total=100, tty=True)
    progress.update(MeisaBackfillCounts(synced=25), force=True)
    progress.finish()
    text = stream.getvalue()
    assert text.startswith("\r[#######.....................] 25/100  25%")
    assert "ETA" in text
    assert text.endswith("\n")


def test_verbosity_zero_shows_no_progress():
    stream = io.StringIO()
    BackfillProgress(stream, total=1, verbosity=0, tty=False).update(
        MeisaBackfillCounts(synced=1), force=True
    )
    assert stream.getvalue() == ""


def test_progress_lines_are_throttled():
    stream = io.StringIO()
    progress = BackfillProgress(stream, total=10, interval=60, tty=False)
    for done in range(10):
        progress.update(MeisaBackfillCounts(synced=done))
    assert stream.getvalue().count("\n") == 1


def test_format_duration():
    assert format_duration(59) == "0:59"
    assert format_duration(3725) == "1:02:05"


def test_summary_lines():
    result = MeisaBackfillResult(
        run_id=3,
        counts=MeisaBackfillCounts(synced=5, unchanged=2, no_email=1, suppressed=1, failed=1),
        selected=12,
        interrupted=True,
        elapsed=2.0,
    )
    text = "\n".join(format_summary(result))
    assert "Backfill run #3 interrupted (inline): 10 of 12 selected users" in text
    assert "Failed:                         1" in text
    assert "python manage.py meisa_backfill --resume 3" in text
    assert not result.ok


def test_failures_csv(tmp_path):
    path = tmp_path / "f.csv"
    assert write_failures_csv(path, [("7", "MeisaRequestError: HTTP 422")]) == 1
    assert path.read_text().splitlines() == ["user_pk,reason", "7,MeisaRequestError: HTTP 422"]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_counts_add_up(value):
    counts = MeisaBackfillCounts(synced=1)
    counts.add(MeisaBackfillCounts(synced=2, failed=int(value)))
    assert counts.done == 3 + int(value)


def test_the_backfill_client_reads_the_environment_once(monkeypatch, settings):
    from django_meisa.backfill.sending import BackfillClient

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    session = BackfillClient().session
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.verify == "/etc/ssl/corp.pem"
    assert session.headers["X-API-Key"] == settings.MEISA["API_KEY"]


def test_the_backfill_session_sends_what_session_request_would(meisa_fake):
    from django_meisa.backfill.sending import BackfillClient

    client = BackfillClient()
    for n in range(3):
        client.upsert_contact({"email": f"u{n}@example.com", "external_id": str(n)})
    assert len(client.session._templates) == 1
    assert len(meisa_fake.upserts) == 3
    sent = meisa_fake.requests[-1]
    assert sent.headers["content-type"] == "application/json"
    body = b'{"email":"u2@example.com","external_id":"2"}'
    assert sent.headers["content-length"] == str(len(body))
    assert sent.json == {"email": "u2@example.com", "external_id": "2"}
    client.session.cookies.set("meisa", "1")
    client.upsert_contact({"email": "u9@example.com"})
    assert meisa_fake.requests[-1].headers["cookie"] == "meisa=1"


def test_flushes_are_paced_from_the_end_of_the_last_flush(monkeypatch):
    # A flush commits a transaction: counted from its start, a pump loop as slow as the
    # interval flushed on every other pump and doubled a backfill's commits.
    from django_meisa.backfill import rounds

    clock = [100.0]
    monkeypatch.setattr(rounds.time, "monotonic", lambda: clock[0])
    every = rounds.Every(0.02)
    clock[0] = 100.03
    assert every.due()
    clock[0] = 100.045  # the flush took 15 ms
    every.done()
    clock[0] = 100.055
    assert not every.due()  # 10 ms after it ended
    assert every.due(now=True)
    clock[0] = 100.066
    assert every.due()
