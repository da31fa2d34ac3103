"""The backfill's MeisaClient: a long-lived session that prepares each request cheaply."""

from __future__ import annotations

from typing import Any

import requests

from django_meisa.client import MeisaClient


class BackfillSession(requests.Session):
    """A ``requests.Session`` for thousands of POSTs of JSON bodies to one URL.

    ``Session.request`` re-merges the session's headers, cookies, auth and the
    environment for every call: more CPU than the rest of the request together. Here a
    prepared request per (method, URL) is kept as a template and copied with the new
    body. The template is rebuilt whenever the session's cookies change, so behaviour
    matches ``Session.request`` for everything the Meisa client sends.
    """

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[tuple[str, str], tuple[int, requests.PreparedRequest]] = {}

    def request(  # type: ignore[override]
        self, method: str, url: str, data: Any = None, **kwargs: Any
    ) -> requests.Response:
        """Send ``data`` to ``url`` like ``Session.request``; only plain keyword options
        (``timeout``, ``allow_redirects``) are supported, as ``MeisaClient`` passes."""
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

    Its session prepares requests from a template (``BackfillSession``), and the
    environment ``requests`` would re-read on every request (proxy variables, the CA
    bundle variables, ``~/.netrc``) is resolved once for ``BASE_URL`` and pinned on the
    session. Only ``~/.netrc`` is no longer consulted: Meisa authenticates with
    ``X-API-Key``, never netrc.
    """

    def create_session(self) -> requests.Session:
        """Return a ``BackfillSession`` with the base headers and the environment's
        proxies and CA bundle pinned. Called lazily by ``session``."""
        base = super().create_session()
        session = BackfillSession()
        session.headers = base.headers
        resolved = base.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies.update(resolved["proxies"])
        session.verify = resolved["verify"]
        session.trust_env = False
        base.close()
        return session
