"""The example site in a real browser: ``demo.py --serve``, driven as a newcomer would.

Runs the demo in serve mode (walk-through, then runserver next to the local Meisa), then
signs up, changes plan, sends a test email to the address the walk-through unsubscribed,
logs out and in again, checks what the local Meisa holds, and opens the admin.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.test_example_project import EXAMPLE, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def wait_for_line(path, prefix, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            if line.strip().startswith(prefix):
                return line.strip()
        assert process.poll() is None, path.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no {prefix!r} line in time:\n{path.read_text()[-3000:]}")


@pytest.fixture
def served_demo(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    command = [sys.executable, str(EXAMPLE / "demo.py"), "--serve", "--port", str(port),
               "--meisa-port", "0", "--db", str(tmp_path / "demo.sqlite3")]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env=site_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(log, "Starting development server", process)
        meisa = wait_for_line(log, "The local Meisa:", process).split()[3]
        yield f"http://127.0.0.1:{port}", meisa.replace("/api/v1", "/_control/")
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_serve_mode_works_in_a_real_browser(served_demo, chromium):
    site, control = served_demo
    page = chromium.new_context(base_url=site).new_page()
    page.set_default_timeout(15_000)
    page.goto("/signup/")
    form = {"username": "mia", "email": "mia@example.com", "country": "FR",
            "password1": "Long-pass-123!", "password2": "Long-pass-123!"}  # fmt: skip
    for field, value in form.items():
        page.fill(f"#id_{field}", value)
    page.click("text=Create my account")
    assert "Welcome, mia!" in page.locator(".messages").inner_text()
    page.select_option("#id_plan", "pro")
    page.select_option("#id_billing_cycle", "annual")
    page.click("text=Change plan")
    assert "now on the pro plan" in page.locator(".messages").inner_text()
    page.fill("#id_to", "grace@example.com")  # unsubscribed during the walk-through
    page.click("text=Send me a test email")
    assert "Not sent" in page.locator(".messages").inner_text()
    page.click("text=Log out")
    page.goto("/login/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", "Long-pass-123!")
    page.click("button:has-text('Log in')")
    profile = page.locator("dl").first.inner_text()
    assert "pro (annual)" in profile
    assert re.search(r"signin_count\s+2", profile)
    contact = requests.get(control + "contacts?email=mia@example.com", timeout=5).json()
    assert contact["custom_fields"]["plan"] == "pro"
    assert contact["custom_fields"]["signin_count"] == 2
    admin = chromium.new_context(base_url=site).new_page()
    admin.goto("/admin/")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", "admin")
    admin.click("input[type=submit]")
    assert "Site administration" in admin.title()
    assert "Subscriptions" in admin.locator("#content-main").inner_text()
    admin.goto("/admin/django_meisa/suppressedemail/")
    assert "grace@example.com" in admin.locator("#result_list").inner_text()
    # Suppression end to end: unsubscribe in the local Meisa, "Refresh now", mail is dropped.
    requests.post(control + "unsubscribe", json={"email": "mia@example.com"}, timeout=5)
    admin.click("input[value='Refresh now']")
    assert "mia@example.com" in admin.locator("#result_list").inner_text()
    page.fill("#id_to", "mia@example.com")
    page.click("text=Send me a test email")
    assert "Not sent: mia@example.com" in page.locator(".messages").inner_text()
