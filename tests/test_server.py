"""The HTTP door: the same FakeMeisa over real sockets, its controls, its log and its CLI."""

from __future__ import annotations

import http.client
import io
import json
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from django_meisa.client import MeisaClient
from django_meisa.exceptions import (
    MeisaAuthError,
    MeisaRateLimitError,
    MeisaRedirectError,
    MeisaRequestError,
    MeisaResponseError,
    MeisaServerError,
    MeisaTimeoutError,
)
from django_meisa.testing import FakeMeisa
from django_meisa.testing.server import serve_in_thread

KEY = "meisa_test_key"


@pytest.fixture
def local_meisa():
    log = io.StringIO()
    server, _ = serve_in_thread(quiet=False, out=log)
    server.log = log
    yield server
    server.stop()


@pytest.fixture
def client(local_meisa):
    client = MeisaClient(api_key=KEY, base_url=local_meisa.base_url, timeout=(1.0, 2.0))
    yield client
    client.close()


def control(server, method, name, body=None):
    url = server.control_url + name
    response = requests.request(method, url, json=body, timeout=2)
    return response.status_code, response.json()


def test_upsert_over_http_creates_and_merges(client, local_meisa):
    client.upsert_contact({"email": "ada@example.com", "external_id": "1", "source": "signup"})
    contact = client.upsert_contact(
        {"email": "ada@example.com", "external_id": "1", "custom_fields": {"plan": "pro"}}
    )
    assert contact["source"] == "signup"
    assert contact["custom_fields"] == {"plan": "pro"}
    assert [u["email"] for u in local_meisa.fake.upserts] == ["ada@example.com"] * 2


def test_unsubscribed_list_over_http(client, local_meisa):
    local_meisa.fake.add_unsubscribed("gone@example.com")
    listed = client.fetch_unsubscribed_emails()
    assert listed.emails == ["gone@example.com"]
    assert listed.count == 1


def test_the_contract_is_enforced_over_http(client, local_meisa):
    with pytest.raises(MeisaAuthError):
        MeisaClient(api_key="wrong", base_url=local_meisa.base_url).fetch_unsubscribed_emails()
    response = requests.post(
        local_meisa.base_url + "/contacts/upsert/",
        data=json.dumps({"email": "a@example.com", "status": "active"}),
        headers={"X-API-Key": KEY, "Content-Type": "application/json"},
        timeout=2,
    )
    assert response.status_code == 400
    assert "status" in response.json()
    with pytest.raises(MeisaRequestError):
        client.request("GET", "/nowhere/")


def test_keep_alive_serves_many_requests_on_one_connection(local_meisa):
    conn = http.client.HTTPConnection("127.0.0.1", local_meisa.server_port, timeout=2)
    conn.connect()
    first_socket = conn.sock
    for n in range(5):
        body = json.dumps({"email": f"u{n}@example.com"})
        conn.request("POST", "/api/v1/contacts/upsert/", body, {"X-API-Key": KEY, **JSON})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") != "close"
    assert conn.sock is first_socket
    conn.close()


JSON = {"Content-Type": "application/json"}


def test_a_chunked_body_is_read(local_meisa):
    conn = http.client.HTTPConnection("127.0.0.1", local_meisa.server_port, timeout=2)
    body = iter([b'{"email": "chunk', b'@example.com"}'])
    headers = {"X-API-Key": KEY, **JSON, "Transfer-Encoding": "chunked"}
    conn.request("POST", "/api/v1/contacts/upsert/", body, headers, encode_chunked=True)
    assert conn.getresponse().status == 200
    assert local_meisa.fake.contact("chunk@example.com") is not None


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", MeisaServerError),
        ("malformed", MeisaResponseError),
        ("redirect", MeisaRedirectError),
    ],
)
def test_injected_faults_reach_the_client_as_typed_errors(client, local_meisa, kind, error):
    local_meisa.fake.inject_fault(kind)
    with pytest.raises(error):
        client.upsert_contact({"email": "a@example.com"})
    assert client.upsert_contact({"email": "a@example.com"})["email"] == "a@example.com"


def test_rate_limit_fault_sends_retry_after(client, local_meisa):
    status, _ = control(local_meisa, "POST", "faults", {"kind": "rate_limit", "retry_after": 7})
    assert status == 200
    with pytest.raises(MeisaRateLimitError) as caught:
        client.fetch_unsubscribed_emails()
    assert caught.value.retry_after == 7


def test_timeout_fault_hangs_past_the_clients_read_timeout(local_meisa):
    control(local_meisa, "POST", "faults", {"kind": "timeout", "seconds": 1.0, "path": "upsert"})
    client = MeisaClient(api_key=KEY, base_url=local_meisa.base_url, timeout=(1.0, 0.3))
    with pytest.raises(MeisaTimeoutError):
        client.upsert_contact({"email": "slow@example.com"})
    assert local_meisa.fake.contact("slow@example.com") is None
    # The server keeps serving other connections while one request hangs.
    assert client.upsert_contact({"email": "slow@example.com"})["email"] == "slow@example.com"


def test_controls_manage_the_unsubscribed_list(local_meisa):
    status, body = control(local_meisa, "POST", "unsubscribed", {"emails": ["a@x.io", "b@x.io"]})
    assert (status, body["unsubscribed"]) == (200, ["a@x.io", "b@x.io"])
    status, body = control(local_meisa, "DELETE", "unsubscribed", {"emails": ["a@x.io"]})
    assert body["unsubscribed"] == ["b@x.io"]
    assert control(local_meisa, "GET", "unsubscribed") == (200, ["b@x.io"])


def test_controls_unsubscribe_a_contact_and_dump_contacts(client, local_meisa):
    client.upsert_contact({"email": "ada@example.com", "external_id": "7"})
    status, contact = control(local_meisa, "POST", "unsubscribe", {"email": "ada@example.com"})
    assert (status, contact["status"]) == (200, "unsubscribed")
    assert client.fetch_unsubscribed_emails().emails == ["ada@example.com"]
    _, contacts = control(local_meisa, "GET", "contacts")
    assert [c["external_id"] for c in contacts] == ["7"]
    assert control(local_meisa, "GET", "contacts?external_id=7")[1]["email"] == "ada@example.com"
    assert control(local_meisa, "GET", "contacts?email=nobody@example.com")[0] == 404


def test_controls_list_requests_without_the_key_and_reset(client, local_meisa):
    client.upsert_contact({"email": "ada@example.com"})
    _, upserts = control(local_meisa, "GET", "upserts")
    assert upserts == [{"email": "ada@example.com"}]
    _, recorded = control(local_meisa, "GET", "requests")
    assert KEY not in json.dumps(recorded)
    assert recorded[0]["status"] == 200
    assert control(local_meisa, "POST", "reset")[0] == 200
    assert control(local_meisa, "GET", "health")[1]["contacts"] == 0


@pytest.mark.parametrize(
    ("method", "name", "body", "status"),
    [
        ("GET", "nothing", None, 404),
        ("PUT", "unsubscribed", None, 405),
        ("POST", "unsubscribed", {"emails": "not-a-list"}, 400),
        ("POST", "unsubscribe", {"email": "a@x.io", "status": "sleepy"}, 400),
        ("POST", "faults", {"kind": "meteor"}, 400),
        ("POST", "faults", {"kind": "timeout", "times": "many"}, 400),
    ],
)
def test_bad_control_requests_are_answered_not_crashed(local_meisa, method, name, body, status):
    assert control(local_meisa, method, name, body)[0] == status
    assert control(local_meisa, "GET", "health")[1]["ok"] is True


def test_one_log_line_per_request_with_email_and_never_the_key(client, local_meisa):
    client.upsert_contact({"email": "ada@example.com"})
    client.fetch_unsubscribed_emails()
    lines = local_meisa.log.getvalue().splitlines()
    assert len(lines) == 2
    assert "POST   /api/v1/contacts/upsert/ -> 200 in" in lines[0]
    assert lines[0].endswith("ada@example.com")
    assert "GET    /api/v1/contacts/api/unsubscribed-emails/ -> 200" in lines[1]
    assert KEY not in local_meisa.log.getvalue()


def test_concurrent_clients_lose_no_upsert(local_meisa):
    def worker(n):
        client = MeisaClient(api_key=KEY, base_url=local_meisa.base_url)
        for k in range(25):
            client.upsert_contact({"email": f"w{n}-{k}@example.com"})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(local_meisa.fake.upserts) == 100
    assert len(local_meisa.fake.dump()) == 100


def test_a_given_fake_is_served_and_binds_to_localhost():
    fake = FakeMeisa(api_key="other_key")
    server, base_url = serve_in_thread(fake)
    try:
        assert server.fake is fake
        assert urlsplit(base_url).hostname == "127.0.0.1"
        assert base_url.endswith("/api/v1")
        assert server.control_url == base_url.replace("/api/v1", "/_control/")
        MeisaClient(api_key="other_key", base_url=base_url).upsert_contact({"email": "a@b.io"})
        assert fake.contact("a@b.io") is not None
    finally:
        server.stop()


def test_runs_as_a_process_and_announces_its_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "django_meisa.testing.server", "--port", "0",
         "--unsubscribed", "x@example.com,y@example.com"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        for line in process.stdout:
            if line.startswith("listening on "):
                base_url = line.split()[-1]
                break
        listed = MeisaClient(api_key=KEY, base_url=base_url).fetch_unsubscribed_emails()
        assert listed.emails == ["x@example.com", "y@example.com"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        process.stdout.close()


def test_pending_faults_can_be_listed_and_cleared(client, local_meisa):
    control(local_meisa, "POST", "faults", {"kind": "server_error", "times": 3, "path": "upsert"})
    status, pending = control(local_meisa, "GET", "faults")
    assert status == 200
    assert [(f["kind"], f["remaining"], f["path"]) for f in pending] == [
        ("server_error", 3, "upsert")
    ]
    assert control(local_meisa, "DELETE", "faults") == (200, {"faults": []})
    assert client.upsert_contact({"email": "a@example.com"})["email"] == "a@example.com"


def test_latency_delays_api_answers_but_not_controls(client, local_meisa):
    assert control(local_meisa, "POST", "latency", {"ms": 300}) == (200, {"latency_ms": 300.0})
    started = time.monotonic()
    client.fetch_unsubscribed_emails()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert control(local_meisa, "GET", "latency") == (200, {"latency_ms": 300.0})
    assert time.monotonic() - started < 0.3
    assert control(local_meisa, "POST", "latency", {"ms": -1})[0] == 400
    assert control(local_meisa, "POST", "latency", {"ms": 0})[1] == {"latency_ms": 0.0}


def test_latency_is_per_request_so_concurrent_clients_overlap():
    server, base_url = serve_in_thread(latency_ms=300)
    try:

        def upsert(n):
            MeisaClient(api_key=KEY, base_url=base_url).upsert_contact({"email": f"c{n}@x.io"})

        threads = [threading.Thread(target=upsert, args=(n,)) for n in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - started < 1.0  # four 300 ms answers, served in parallel
        assert len(server.fake.upserts) == 4
    finally:
        server.stop()
