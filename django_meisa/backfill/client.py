"""The backfill's MeisaClient: a long-lived session that prepares each request cheaply."""

from __future__ import annotations

from typing import Any

import requests

from django_meisa.client import MeisaClient


class BackfillSession(requests.Session):
    """A ``requests.Session`` for thousands of POSTs of JSON bodies to one URL.

    ``Session.request`` re-merges headers, cookies, auth and the environment on every
    call, more CPU than the rest of the request. Here a prepared request per (method,
    URL) is a template, copied with each body and rebuilt when the cookies change.
    """

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[tuple[str, str], tuple[int, requests.PreparedRequest]] = {}

    def request(  # type: ignore[override]
        self, method: str, url: str, data: Any = None, **kwargs: Any
    ) -> requests.Response:
        """``Session.request`` for the plain options ``MeisaClient`` passes (``timeout``...)."""
        prepared = self._template(method, url).copy()
        prepared.prepare_body(data, None)
        kwargs.setdefault("proxies", self.proxies)
        return self.send(prepared, **kwargs)

    def _template(self, method: str, url: str) -> requests.PreparedRequest:
        key, cookies = (method.upper(), url), len(self.cookies)
        cached = self._templates.get(key)
        if cached is None or cached[0] != cookies:
            cached = (cookies, self.prepare_request(requests.Request(method, url)))
            self._templates[key] = cached
        return cached[1]


class BackfillClient(MeisaClient):
    """A ``MeisaClient`` for a sender thread that posts thousands of upserts in a row.

    The environment ``requests`` re-reads per request (proxies, CA bundle) is resolved
    once for ``BASE_URL`` and pinned; ``~/.netrc`` is not consulted (Meisa uses a key).
    """

    def create_session(self) -> requests.Session:
        """Return a ``BackfillSession`` with the base headers, proxies and CA bundle."""
        base = super().create_session()
        session = BackfillSession()
        session.headers = base.headers
        resolved = base.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies.update(resolved["proxies"])
        session.verify = resolved["verify"]
        session.trust_env = False
        base.close()
        return session
