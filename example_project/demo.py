"""django-meisa end to end, against a local Meisa: ``make demo`` (or ``python demo.py``).

Migrates a fresh SQLite database, starts the local Meisa over HTTP, then drives the
example site's real pages and django-meisa's commands, printing what Meisa receives at
each step and checking it. ``--serve`` then leaves the site and the local Meisa running.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "demo.sqlite3"
KEY = "meisa_test_key"


class Walkthrough:
    """Prints the steps and keeps score of the checks."""

    def __init__(self, fake):
        self.fake = fake
        self.failures = []
        self.checks = 0
        self.seen = 0
        self.last_sent = {}

    def step(self, number, title):
        """Print a step's heading."""
        print(f"\n== {number}. {title} " + "=" * max(0, 70 - len(title)), flush=True)

    def say(self, text):
        """Print a line of narration."""
        print(f"   {text}", flush=True)

    def check(self, ok, text):
        """Print a check's outcome; a failed one makes the demo exit non-zero."""
        self.checks += 1
        print(f"   {'✓' if ok else '✗ FAILED:'} {text}", flush=True)
        if not ok:
            self.failures.append(text)

    def new_upserts(self, compact=False):
        """Return the upserts Meisa applied since the last call, and print them."""
        upserts = self.fake.upserts
        fresh, self.seen = upserts[self.seen :], len(upserts)
        for body in fresh:
            if compact:
                self.last_sent[body["email"]] = body
                fields = body.get("custom_fields", {})
                self.say(
                    f"Meisa received an upsert for {body['email']}: source={body.get('source')}"
                    f", plan={fields.get('plan')}, signup_date={fields.get('signup_date')}"
                )
            else:
                self.show_upsert(body)
        return fresh

    def show_upsert(self, body):
        """Print an upsert: whole the first time, then only what changed for that email."""
        before = self.last_sent.get(body["email"])
        self.last_sent[body["email"]] = body
        shown = {k: v for k, v in body.items() if k != "email"}
        if before is None:
            self.say(f"Meisa received an upsert for {body['email']}:")
        else:
            old_fields = before.get("custom_fields", {})
            fields = {
                k: v for k, v in body.get("custom_fields", {}).items() if old_fields.get(k) != v
            }
            shown = {"source": body.get("source"), "custom_fields": fields}
            shown["tag_names"] = body.get("tag_names")
            self.say(f"Meisa received an upsert for {body['email']} (changes since the last one):")
        for line in json.dumps(shown, indent=2).splitlines():
            self.say(f"    {line}")


class MeisaLog:
    """Where the local Meisa writes its one line per request: indented into the demo."""

    def write(self, text):
        for line in text.splitlines():
            print(f"      [local Meisa] {line}", flush=True)

    def flush(self):
        pass


def free_port(preferred):
    """Return ``preferred`` if nothing listens there, else a free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port")


def start_local_meisa(port):
    """Start the local Meisa in a thread; return ``(server, fake)``."""
    from django_meisa.testing import FakeMeisa
    from django_meisa.testing.server import serve_in_thread

    fake = FakeMeisa(api_key=KEY)
    server, _ = serve_in_thread(fake, port=free_port(port), quiet=False, out=MeisaLog())
    return server, fake


def configure_environment(base_url, delivery_backend, db_path):
    """Point the example settings at the demo database and the local Meisa."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "MEISA_BASE_URL": base_url,
            "MEISA_API_KEY": KEY,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "MEISA_DELIVERY_BACKEND": delivery_backend,
            "MEISA_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)


def setup_django(base_url, db_path):
    """Create the demo database from scratch and load Django."""
    sys.path.insert(0, str(HERE))
    configure_environment(base_url, "django.core.mail.backends.locmem.EmailBackend", db_path)
    db_path.unlink(missing_ok=True)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run_walkthrough(fake, base_url):
    """Run every step; return the ``Walkthrough`` with its score."""
    from demo_steps import STEPS

    walk = Walkthrough(fake)
    context = {"base_url": base_url}
    for number, step in enumerate(STEPS, start=1):
        walk.step(number, step.__doc__.strip().splitlines()[0])
        try:
            step(walk, context)
        except Exception as err:  # one broken step must not hide the others' results
            walk.check(False, f"the step stopped: {type(err).__name__}: {err}")
    return walk


def print_summary(walk, serving):
    """Print the closing summary."""
    print("\n== Summary " + "=" * 64)
    print(f"   Meisa holds {len(walk.fake.dump())} contacts and received "
          f"{len(walk.fake.upserts)} upserts; {walk.checks} checks ran.")  # fmt: skip
    if walk.failures:
        print(f"   {len(walk.failures)} check(s) FAILED:")
        for text in walk.failures:
            print(f"     - {text}")
    else:
        print("   Every check passed: users reached Meisa with the right payloads, and the")
        print("   address Meisa listed as unsubscribed was not emailed.")
    if not serving:
        print("   To click around: make demo DEMO_ARGS=--serve")


def serve(server, web_port, db_path):
    """Run the site with runserver next to the local Meisa until Ctrl-C."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@example.com", "admin")
    port = free_port(web_port)
    console = "django.core.mail.backends.console.EmailBackend"
    configure_environment(server.base_url, console, db_path)
    control = server.control_url.rstrip("/")
    print("\n== Serving " + "=" * 64)
    print(f"   The site:        http://127.0.0.1:{port}/   (sign up, log in, change plan, email)")
    print(f"   The admin:       http://127.0.0.1:{port}/admin/   login admin / admin")
    print(f"   Suppression list: http://127.0.0.1:{port}/admin/django_meisa/suppressedemail/")
    print(f"   The local Meisa: {server.base_url}   (key {KEY})")
    print(f"   Its contacts:    {control}/contacts")
    print(f'   Unsubscribe one: curl -X POST {control}/unsubscribe -d \'{{"email": "..."}}\'')
    print("   then refresh the suppression list in the admin. Ctrl-C stops everything.\n")
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    site = subprocess.Popen(command, cwd=HERE)
    # Ctrl-C or a SIGTERM stops runserver too, never leaving it orphaned.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        site.wait()
    except KeyboardInterrupt:
        site.terminate()
        site.wait(timeout=10)
        print("\nStopped the site and the local Meisa.")


def main(argv=None):
    """Run the demo; return 0 when every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the site running after")
    parser.add_argument("--port", type=int, default=8000, help="the site's port with --serve")
    parser.add_argument("--meisa-port", type=int, default=8765, help="the local Meisa's port")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (recreated)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(errors="replace")
    server, fake = start_local_meisa(args.meisa_port)
    print("django-meisa demo: the example site on a fresh SQLite database, Celery in eager")
    print("mode, and a local Meisa over real HTTP. No account, no services, nothing leaves")
    print(f"this machine. The local Meisa is listening on {server.base_url}.")
    setup_django(server.base_url, args.db.resolve())
    try:
        walk = run_walkthrough(fake, server.base_url)
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130
    print_summary(walk, serving=args.serve)
    if args.serve:
        serve(server, args.port, args.db.resolve())
    server.stop()
    return 1 if walk.failures else 0


if __name__ == "__main__":
    sys.exit(main())
