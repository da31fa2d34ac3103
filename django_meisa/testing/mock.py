"""The ``responses`` door to FakeMeisa: intercepts requests to Meisa in-process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import requests
import responses
from django.test import override_settings

from django_meisa import conf
from django_meisa.testing.fake import DEFAULT_API_KEY, DEFAULT_BASE_URL, FakeMeisa


@contextmanager
def fake_meisa(
    *,
    api_key: str = DEFAULT_API_KEY,
    base_url: str = DEFAULT_BASE_URL,
    configure_settings: bool = True,
    fake: FakeMeisa | None = None,
) -> Iterator[FakeMeisa]:
    """Route every request to ``base_url`` to a ``FakeMeisa`` for the block's duration.

    With ``configure_settings`` (the default) ``MEISA["API_KEY"]`` and ``MEISA["BASE_URL"]``
    are overridden to match the fake, keeping the site's other MEISA keys. Requests to
    other hosts pass through untouched.
    """
    fake = fake or FakeMeisa(api_key=api_key, base_url=base_url)
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    pattern = re.compile(re.escape(fake.base_url) + r"(/.*)?$")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        mock.add_callback(method, pattern, callback=_callback(fake))
    mock.add_passthru(re.compile(r"^(?!" + re.escape(fake.base_url) + ")"))
    settings = {**conf.user_settings(), "API_KEY": fake.api_key, "BASE_URL": fake.base_url}
    with mock, override_settings(MEISA=settings) if configure_settings else nullcontext():
        yield fake


def _callback(fake: FakeMeisa) -> Any:
    def respond(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        path = re.sub(r"^https?://[^/]+", "", request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        answer = fake.handle(request.method or "GET", path, dict(request.headers), body)
        if answer.hang:
            raise requests.exceptions.ReadTimeout("Read timed out (FakeMeisa fault)")
        return answer.status, answer.headers, answer.body

    return respond
