"""A Django shell on the example site that the integration tests drive over a pipe.

Runs as its own process (the site's "web" side), with the example project's settings.
Each stdin line is ``{"code": "..."}``; the code runs in one persistent namespace in
autocommit mode, so workers see its writes at once. It may set ``result``; the answer
is one stdout line ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
Anything else the code prints goes to stderr, the process log.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

PRELUDE = """
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
User = get_user_model()
"""


def serve(protocol: Any) -> None:
    """Answer requests from stdin until it closes."""
    namespace: dict[str, Any] = {}
    exec(PRELUDE, namespace)  # noqa: S102 - a test harness runs the tests' own code
    protocol.write(json.dumps({"ok": True, "result": "ready"}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        namespace.pop("result", None)
        try:
            exec(compile(json.loads(line)["code"], "<integration test>", "exec"), namespace)  # noqa: S102
            reply = {"ok": True, "result": namespace.get("result")}
        except BaseException:  # the test decides what an error means
            reply = {"ok": False, "error": traceback.format_exc()}
        protocol.write(json.dumps(reply, default=str) + "\n")
        protocol.flush()


def main() -> None:
    """Set Django up, keep stdout for answers only, and serve."""
    protocol = sys.stdout
    sys.stdout = sys.stderr
    import django

    django.setup()
    serve(protocol)


if __name__ == "__main__":
    main()
