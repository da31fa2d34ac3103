"""Child processes for the integration suite: started in their own group, always reaped.

Every process writes to a log file; waits are bounded, and a failed wait shows the tail
of the log. ``stop()`` signals the whole process group (Celery's prefork children too).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ManagedProcess:
    """One child process in its own process group, logging to ``log_path``."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, **popen: object) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **popen,  # type: ignore[call-overload]
        )

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self.process.pid

    def output(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, for failure messages."""
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for_output(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until the log matches ``pattern``; fail with the log tail if it doesn't."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.output())
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name} did not print /{pattern}/ within {timeout:.0f} s "
            f"(exit code {self.process.poll()}). Log tail:\n{self.tail()}"
        )

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the whole process group; a finished group is fine."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL it if it outlives ``timeout``; close the log."""
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Grandchildren (prefork pool) may outlive the parent: kill what is left.
        self.signal_group(signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)
        self._log.close()


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2
) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``.

    Returns the truthy value. The failure message says ``what`` was awaited and the
    last value seen, so a stuck test explains itself.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
