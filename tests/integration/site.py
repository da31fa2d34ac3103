"""The example site as separate processes: a Django shell, Celery workers and beat.

All of them load ``tests.integration.site_settings`` from one environment (database,
broker, local Meisa, SMTP sink), run from ``example_project/`` as
docs/howto/example-project.md says, and are stopped by the fixture that made them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.databases import database_url
from tests.integration.processes import ManagedProcess
from tests.integration.services import MEISA_KEY, LocalMeisa, SmtpSink

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "example_project"
DRIVER = Path(__file__).with_name("driver.py")


def site_environment(
    database: str, broker_url: str, meisa: LocalMeisa, smtp: SmtpSink | None, **extra: str
) -> dict[str, str]:
    """The environment every site process gets: one database, broker and Meisa."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE_DIR), str(REPO)]),
        "DJANGO_SETTINGS_MODULE": "tests.integration.site_settings",
        "DATABASE_URL": database_url(database),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEISA_BASE_URL": meisa.base_url,
        "MEISA_API_KEY": MEISA_KEY,
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DJANGO_DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    if smtp is not None:
        env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp.port))
    return env


def migrate(env: dict[str, str], log: Path) -> None:
    """Run the example project's migrations against the environment's database."""
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=EXAMPLE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )


class DjangoShell:
    """The site's web side: a persistent Django process running the test's code."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(DRIVER)],
            cwd=EXAMPLE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        self.log_path = log
        self._answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_answers, daemon=True).start()
        self._receive(timeout=60, code="(startup)")

    def _read_answers(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._answers.put(line)

    def run(self, code: str, timeout: float = 60) -> Any:
        """Run ``code`` in the site's process and return what it set as ``result``."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"code": textwrap.dedent(code)}) + "\n")
        self.process.stdin.flush()
        return self._receive(timeout, code)

    def _receive(self, timeout: float, code: str) -> Any:
        try:
            answer = json.loads(self._answers.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(
                f"the Django shell gave no answer within {timeout:.0f} s to:\n{code}\n"
                f"log tail:\n{self.tail()}"
            ) from None
        if not answer["ok"]:
            raise AssertionError(f"the Django shell failed running:\n{code}\n{answer['error']}")
        return answer["result"]

    def tail(self, lines: int = 30) -> str:
        """The end of the shell's log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Close stdin (the driver exits), then make sure the process is gone."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


@dataclass
class Site:
    """One running example site: its shell, its workers and beat, and its services."""

    env: dict[str, str]
    workdir: Path
    meisa: LocalMeisa
    smtp: SmtpSink | None
    shell: DjangoShell
    processes: list[ManagedProcess] = field(default_factory=list)
    _starting: list[tuple[ManagedProcess, str]] = field(default_factory=list)

    def start_worker(
        self, name: str, concurrency: int = 2, *, supervised: bool = False, wait: bool = True
    ) -> ManagedProcess:
        """Start ``celery -A example_project worker``; with ``wait``, until it is ready.

        ``supervised`` restarts the worker whenever it exits, as systemd or supervisord
        do in production: a worker may exit on a broker outage (docs/howto/production.md).
        Without ``wait``, call ``wait_ready()`` later (processes then start in parallel).
        """
        argv = [sys.executable, "-m", "celery", "-A", "example_project", "worker"]
        argv += ["--loglevel=INFO", f"--concurrency={concurrency}", f"--hostname={name}@%h"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if supervised:
            loop = 'while :; do "$@"; echo "supervisor: worker exited ($?)"; sleep 1; done'
            argv = ["bash", "-c", loop, "supervisor", *argv]
        worker = self._start(name, argv, ready=rf"{name}@\S+ ready")
        if wait:
            self.wait_ready()
        return worker

    def start_beat(self) -> ManagedProcess:
        """Start ``celery -A example_project beat`` (own schedule file); wait for every
        process started so far to be ready."""
        argv = [sys.executable, "-m", "celery", "-A", "example_project", "beat"]
        argv += ["--loglevel=INFO", f"--schedule={self.workdir / 'beat-schedule'}"]
        argv += ["--max-interval=1", f"--pidfile={self.workdir / 'beat.pid'}"]
        beat = self._start("beat", argv, ready=r"beat: Starting")
        self.wait_ready()
        return beat

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait (bounded) until every process started so far says it is ready."""
        while self._starting:
            process, pattern = self._starting.pop()
            process.wait_for_output(pattern, timeout)

    def _start(self, name: str, argv: list[str], ready: str) -> ManagedProcess:
        process = ManagedProcess(
            name, argv, self.workdir / f"{name}.log", cwd=EXAMPLE_DIR, env=self.env
        )
        self.processes.append(process)
        self._starting.append((process, ready))
        return process

    def stop(self) -> None:
        """Stop every process this site started (all at once: a warm shutdown takes a
        moment each), then the shell."""
        for process in self.processes:
            process.signal_group(signal.SIGTERM)
        for process in self.processes:
            process.stop(timeout=10)
        self.shell.close()
