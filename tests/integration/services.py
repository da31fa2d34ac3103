"""Real services each integration test owns: a PostgreSQL database, a Redis server, a
RabbitMQ vhost, the local Meisa over HTTP, and an SMTP sink.

The machine's shared PostgreSQL, RabbitMQ and Redis keep running; tests create their own
database, vhost and redis-server process on them (or beside them), so a fault test can
stop its broker without touching anyone else's.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from aiosmtpd.controller import Controller

from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

MEISA_KEY = "meisa_integration_key"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def create_database(prefix: str = "meisa_it", template: str | None = None) -> str:
    """Create a PostgreSQL database with a unique name (a copy of ``template`` if given)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return name


def drop_database(name: str) -> None:
    """Drop a database made by ``create_database``, disconnecting whoever still uses it."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbitmq_vhost() -> str:
    """Create a RabbitMQ vhost for guest and return its name (queues start empty)."""
    name = f"meisa_it_{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return name


def delete_rabbitmq_vhost(name: str) -> None:
    """Delete a vhost made by ``rabbitmq_vhost`` with its queues."""
    _rabbitmqctl("delete_vhost", name)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


class RedisServer:
    """A redis-server process of the test's own, on a free port, keeping nothing on disk.

    ``stop()`` and ``start()`` again reuse the port, as a broker outage and recovery.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """The broker URL for Celery."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start redis-server and wait (bounded) until it accepts connections."""
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.process = ManagedProcess("redis", argv, self.workdir / f"redis-{self.port}.log")
        wait_until(lambda: port_open(self.port), 15, f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Stop the server (its queued messages are lost: nothing is persisted)."""
        if self.process is not None:
            self.process.stop()
            self.process = None


class LocalMeisa:
    """``python -m django_meisa.testing.server`` in its own process, plus its controls."""

    def __init__(self, workdir: Path) -> None:
        argv = [sys.executable, "-m", "django_meisa.testing.server", "--port", "0"]
        argv += ["--api-key", MEISA_KEY]
        self.process = ManagedProcess("local Meisa", argv, workdir / "meisa.log")
        match = self.process.wait_for_output(r"listening on (http://\S+)", timeout=20)
        self.base_url = match.group(1)
        self.control_url = self.base_url.split("/api/", 1)[0] + "/_control/"
        self.session = requests.Session()

    def control(self, method: str, name: str, **body: Any) -> Any:
        """Call one ``/_control/`` endpoint and return its JSON answer."""
        response = self.session.request(
            method, self.control_url + name, json=body or None, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def contacts(self) -> dict[str, dict[str, Any]]:
        """Every contact Meisa holds, by email."""
        return {c["email"]: c for c in self.control("GET", "contacts")}

    def upserts(self) -> list[dict[str, Any]]:
        """Every upsert body Meisa accepted, in order."""
        return list(self.control("GET", "upserts"))

    def requests_to(self, fragment: str) -> list[dict[str, Any]]:
        """Every API request whose path contains ``fragment`` (faulted ones included)."""
        return [r for r in self.control("GET", "requests") if fragment in r["path"]]

    def fault(self, kind: str, times: int, **options: Any) -> None:
        """Make the next ``times`` API calls fail with ``kind`` (see testing/control.py)."""
        self.control("POST", "faults", kind=kind, times=times, **options)

    def list_unsubscribed(self, *emails: str) -> None:
        """Put ``emails`` on the list the unsubscribed-emails endpoint serves."""
        self.control("POST", "unsubscribed", emails=list(emails))

    def unlist(self, *emails: str) -> None:
        """Take ``emails`` off that list."""
        self.control("DELETE", "unsubscribed", emails=list(emails))

    def stop(self) -> None:
        """Stop the process."""
        self.session.close()
        self.process.stop()


@dataclass
class _SinkHandler:
    """aiosmtpd handler that keeps every envelope's recipients and body."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                {"to": [a.lower() for a in envelope.rcpt_tos], "data": envelope.content}
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def recipients(self) -> set[str]:
        """Every address any delivered message went to (lowercased)."""
        with self.handler.lock:
            return {to for message in self.handler.messages for to in message["to"]}

    def message_count(self) -> int:
        """How many messages were delivered."""
        with self.handler.lock:
            return len(self.handler.messages)

    def stop(self) -> None:
        """Stop the server."""
        self.controller.stop()
