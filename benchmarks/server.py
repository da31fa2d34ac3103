"""Start and drive the local Meisa (``django_meisa.testing.server``) for a benchmark."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import requests

from benchmarks.harness import REPO


class LocalMeisa:
    """The local fake Meisa in a separate process, quiet, on a free port."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "django_meisa.testing.server", "--port", "0", "--quiet"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.base_url = self._wait_for_banner()
        self.root = self.base_url.split("/api/")[0]
        self.http = requests.Session()

    def _wait_for_banner(self) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("listening on "):
                return line.split("listening on ", 1)[1].strip()
        raise RuntimeError("the local Meisa exited before it listened")

    def control(self, method: str, name: str, **body: Any) -> Any:
        """Call a ``/_control/`` endpoint and return its JSON answer."""
        response = self.http.request(method, f"{self.root}/_control/{name}", json=body or None)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        """Counts of contacts, requests and upserts the fake holds."""
        result: dict[str, Any] = self.control("GET", "health")
        return result

    def reset(self) -> None:
        """Forget every contact and recorded request (keeps the server's memory flat)."""
        self.control("POST", "reset")

    def stop(self) -> None:
        """Terminate the server process (kill it if a loaded machine keeps it past 10 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
