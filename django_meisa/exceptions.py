"""The one exception tree of django-meisa, rooted at ``MeisaError``."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class MeisaError(Exception):
    """Base of every error django-meisa raises.

    ``retryable`` tells the caller whether trying the same call again later can succeed.
    Messages never contain the API key, request bodies or personal data.
    """

    retryable: bool = False


class MeisaConfigurationError(MeisaError, ImproperlyConfigured):
    """A setting is missing or wrong. The message names the exact setting to fix."""


class MeisaPayloadError(MeisaError, ValueError):
    """An upsert payload breaks Meisa's documented contract. The message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"Invalid Meisa upsert payload: {field}: {problem}")


class MeisaMappingError(MeisaError):
    """The configured mapper raised or returned something unusable for a user.

    Not retryable: the same user maps the same way until the code or data changes.
    The message names the mapper entry (e.g. ``MEISA["CUSTOM_FIELDS"]["plan"]``) and
    never holds the user's data.
    """


class MeisaNoEmailError(MeisaMappingError):
    """The user has no email address, so there is nothing to upsert (a skip, not a failure)."""


class MeisaConnectionError(MeisaError):
    """Meisa could not be reached (DNS, refused connection, TLS, reset). Retryable."""

    retryable = True


class MeisaTimeoutError(MeisaConnectionError):
    """Meisa did not answer within ``MEISA["TIMEOUT"]``. Retryable."""


class MeisaAPIError(MeisaError):
    """Meisa answered with an error status or an unusable body.

    Carries ``status_code``, the request ``method`` and ``path``, and Meisa's request id
    when it sent one. The response body is kept on ``response_text`` (truncated) for
    debugging, but never put in the message, because it may echo personal data.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        response_text: str = "",
    ) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.request_id = request_id
        self.response_text = response_text[:2000]
        super().__init__(message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status_code={self.status_code!r})"


class MeisaAuthError(MeisaAPIError):
    """401 or 403: the API key is wrong or lacks the endpoint's scope. Not retryable."""


class MeisaRequestError(MeisaAPIError):
    """400, 404, 422 and other 4xx: Meisa refused the request as sent. Not retryable."""


class MeisaRateLimitError(MeisaAPIError):
    """429: too many requests. Retryable; ``retry_after`` is Meisa's hint in seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class MeisaServerError(MeisaAPIError):
    """5xx: Meisa failed. Retryable."""

    retryable = True


class MeisaRedirectError(MeisaAPIError):
    """3xx: never followed, so the API key cannot leak to another host.

    Not retryable: a redirect means ``MEISA["BASE_URL"]`` is wrong (http instead of
    https, a missing path segment) and needs fixing.
    """


class MeisaResponseError(MeisaAPIError):
    """A 2xx whose body is not the documented JSON shape (a proxy's HTML page, a cut body).

    Retryable: the upsert is idempotent, and such bodies usually come from a
    transient fault between us and Meisa.
    """

    retryable = True


class MeisaRetriesExhaustedError(MeisaError):
    """A contact sync kept failing retryably (5xx, timeouts, malformed bodies) for
    ``MEISA["SYNC_GIVE_UP_AFTER_SWEEPS"]`` sweep cycles and is now marked failed, until
    the user changes again. Its message carries the last error's text. Not retryable."""


class MeisaStaleListError(MeisaError):
    """Meisa's list has an ``as_of`` older than the one already applied; not applied.

    Retryable: a later download normally carries a newer ``as_of``.
    """

    retryable = True


class MeisaSuppressionUnavailable(MeisaError):
    """The suppression table could not be read, so nothing was sent (fail closed).

    Raised by ``SuppressionEmailBackend`` unless ``MEISA["SUPPRESSION_FAIL_OPEN"]`` is
    set; the database error is chained as ``__cause__``.
    """

    retryable = True


class MeisaSuppressionNotLoaded(MeisaSuppressionUnavailable):
    """The suppression mirror has never been loaded, so nothing was sent (fail closed).

    Raised by ``SuppressionEmailBackend`` until the first successful refresh, unless
    ``MEISA["SUPPRESSION_FAIL_OPEN"]`` is set or the message is bypassed. The backend
    has already asked a worker for a refresh; ``manage.py meisa_refresh_suppressions``
    fills the mirror at once.
    """


class MeisaSuppressionStale(MeisaSuppressionUnavailable):
    """The mirror is older than ``MEISA["SUPPRESSION_MAX_AGE"]`` and the policy is "raise".

    Raised by ``SuppressionEmailBackend`` only with
    ``MEISA["SUPPRESSION_STALE_POLICY"] = "raise"``; the default ("warn") sends, logs an
    ERROR and sends the ``suppression_stale`` signal instead.
    """


class MeisaRecipientsSuppressed(MeisaError):
    """Every recipient of one or more messages is suppressed (``ALL_SUPPRESSED="raise"``).

    Raised by ``SuppressionEmailBackend`` after the rest of the batch was sent.
    ``messages`` holds the messages that were not sent, ``sent`` how many were.
    Suppressed addresses are on each message's ``meisa_suppressed``, never in the text.
    """

    def __init__(self, messages: list[object], sent: int) -> None:
        self.messages = messages
        self.sent = sent
        super().__init__(
            f"{len(messages)} message(s) not sent: every recipient is suppressed "
            f"({sent} other message(s) sent)."
        )
