"""The backfill's limit: N threads, one keep-alive ``requests.Session`` each, POSTing
precomputed upsert payloads to the same server as fast as it answers.

Run as a child: ``python -m benchmarks.rawloop PAYLOADS_FILE BASE_URL THREADS``, where the
file holds one encoded JSON payload a line. Prints the seconds from first to last POST.
"""

from __future__ import annotations

import sys
import threading
import time

import requests

from benchmarks.harness import emit_result


def post_all(url: str, bodies: list[bytes], errors: list[int]) -> None:
    """POST every body over one keep-alive session, as the backfill's threads do."""
    session = requests.Session()
    session.headers.update({"X-API-Key": "meisa_test_key", "Content-Type": "application/json"})
    for body in bodies:
        response = session.post(url, data=body, timeout=(3.05, 10.0))
        if response.status_code != 200:
            errors.append(response.status_code)


def main(path: str, base_url: str, threads: int) -> None:
    """Split the payloads between ``threads`` threads and time them all."""
    with open(path, "rb") as source:
        bodies = source.read().splitlines()
    url = base_url.rstrip("/") + "/contacts/upsert/"
    errors: list[int] = []
    workers = [
        threading.Thread(target=post_all, args=(url, bodies[i::threads], errors))
        for i in range(threads)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    emit_result(seconds=seconds, requests=len(bodies), errors=len(errors))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
