"""The HTTP door to FakeMeisa: a local Meisa on 127.0.0.1 for demos, benchmarks and CI.

``python -m django_meisa.testing.server --port 8765`` serves it (point ``MEISA["BASE_URL"]``
at ``http://127.0.0.1:8765/api/v1``); ``serve_in_thread()`` starts one inside a test or a
benchmark. It serves the same ``FakeMeisa`` as the ``responses`` door (one contract);
the control endpoints under ``/_control/`` are listed in ``testing/control.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

from django_meisa.testing.control import CONTROL_PREFIX, handle_control, handle_latency
from django_meisa.testing.fake import DEFAULT_API_KEY, FakeMeisa, FakeResponse, parse_json

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LATENCY_PATH = CONTROL_PREFIX + "latency"


class MeisaRequestHandler(BaseHTTPRequestHandler):
    """Hands each request to the server's ``FakeMeisa`` (or its controls) and writes back
    the answer. HTTP/1.1 keep-alive, with Nagle's algorithm off so small answers leave at
    once."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "LocalMeisa"
    sys_version = ""
    server: MeisaHTTPServer

    def dispatch(self) -> None:
        """Answer any verb: read the body, ask the fake, log one line, write the answer."""
        started = time.perf_counter()
        body = self.read_body()
        if self.path.startswith(LATENCY_PATH):
            answer = handle_latency(self.server, self.command, body)
        elif self.path.startswith(CONTROL_PREFIX):
            answer = handle_control(self.server.fake, self.command, self.path, body)
        else:
            if self.server.latency_ms:
                time.sleep(self.server.latency_ms / 1000)
            answer = self.server.fake.handle(self.command, self.path, dict(self.headers), body)
        if answer.hang:
            time.sleep(answer.hang_seconds)
            self.close_connection = True
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Logged before answering, so the line precedes whatever the client does next.
        self.server.log_line(self.command, self.path, answer.status, elapsed_ms, body)
        self.write_answer(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch  # http.server calls do_<VERB>

    def read_body(self) -> bytes:
        """Return the request body, from Content-Length or chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()  # the blank line after the last chunk
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def write_answer(self, answer: FakeResponse) -> None:
        """Send ``answer`` with a Content-Length, so the connection can be kept alive."""
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a hang fault outlived its read timeout): expected.
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence http.server's own access log; ``MeisaHTTPServer.log_line`` replaces it."""


class MeisaHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server around one ``FakeMeisa``. Stop it with ``stop()``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        fake: FakeMeisa,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        quiet: bool = False,
        out: IO[str] | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.fake = fake
        self.quiet = quiet
        #: Milliseconds every API answer waits, as the round trip to the real Meisa would.
        self.latency_ms = latency_ms
        self.out = out if out is not None else sys.stdout
        self._out_lock = threading.Lock()
        super().__init__((host, port), MeisaRequestHandler)

    def server_bind(self) -> None:
        """Bind without http.server's reverse DNS lookup of the host (slow offline)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def base_url(self) -> str:
        """The URL to put in ``MEISA["BASE_URL"]``, e.g. ``http://127.0.0.1:8765/api/v1``."""
        host = self.server_name if ":" not in self.server_name else f"[{self.server_name}]"
        return f"http://{host}:{self.server_port}{self.fake.base_path}"

    @property
    def control_url(self) -> str:
        """The root of the control endpoints, e.g. ``http://127.0.0.1:8765/_control/``."""
        return self.base_url[: -len(self.fake.base_path) or None] + CONTROL_PREFIX

    def log_line(self, method: str, path: str, status: int, elapsed_ms: float, body: bytes) -> None:
        """Print one readable line per request: time, method, path, status, ms, email.

        Called by the handler after it answered. Headers are never printed, so the
        API key cannot reach the log.
        """
        if self.quiet:
            return
        stamp = dt.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        line = f"{stamp} {method:6} {path} -> {status} in {elapsed_ms:.1f} ms{_who(body)}\n"
        with self._out_lock:
            self.out.write(line)
            self.out.flush()

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call from any thread."""
        self.shutdown()
        self.server_close()


def _who(body: bytes) -> str:
    # The contact's email helps a reader follow the demo; nothing else from the body.
    data = parse_json(body) if body.startswith(b"{") else None
    email = data.get("email") if isinstance(data, dict) else None
    return f"  {email}" if isinstance(email, str) else ""


def serve_in_thread(
    fake: FakeMeisa | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    quiet: bool = True,
    out: IO[str] | None = None,
    latency_ms: float = 0.0,
) -> tuple[MeisaHTTPServer, str]:
    """Start a local Meisa in a daemon thread and return ``(server, base_url)``.

    ``port=0`` picks a free port; ``latency_ms`` delays every API answer (the controls
    answer at once). Pass a ``FakeMeisa`` to control or inspect it directly
    (``fake.upserts``, ``fake.add_unsubscribed(...)``); one is created otherwise
    (``server.fake``). Call ``server.stop()`` when done. Raises ``OSError`` if the port
    is taken.
    """
    server = MeisaHTTPServer(
        fake or FakeMeisa(), host, port, quiet=quiet, out=out, latency_ms=latency_ms
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.name = f"local-meisa-{server.server_port}"
    thread.start()
    return server, server.base_url


def main(argv: list[str] | None = None) -> int:
    """Run a local Meisa in the foreground until Ctrl-C or SIGTERM. Returns the exit code."""
    args = _parser().parse_args(argv)
    fake = FakeMeisa(api_key=args.api_key, base_url="http://local" + args.base_path)
    if args.unsubscribed:
        fake.add_unsubscribed(*args.unsubscribed.split(","))
    try:
        server = MeisaHTTPServer(
            fake, args.host, args.port, quiet=args.quiet, latency_ms=args.latency_ms
        )
    except OSError as err:
        print(f"Cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    _print_banner(server, default_key=args.api_key == DEFAULT_API_KEY)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


def _print_banner(server: MeisaHTTPServer, *, default_key: bool) -> None:
    key = f"{DEFAULT_API_KEY} (the default)" if default_key else "as given with --api-key"
    print("Local Meisa (django-meisa's FakeMeisa over HTTP). Ctrl-C to stop.")
    print(f"  API key:  {key}")
    print(f"  controls: {server.control_url}")
    print(f"listening on {server.base_url}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_meisa.testing.server",
        description="Serve an in-memory fake Meisa over HTTP, for demos, benchmarks and CI.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key clients must send")
    parser.add_argument("--base-path", default="/api/v1", help="default: %(default)s")
    parser.add_argument("--unsubscribed", default="", help="comma-separated addresses to list")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every API answer (a real round trip)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
