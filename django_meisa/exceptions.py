"""The one exception tree of django-meisa, rooted at ``MeisaError``."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class MeisaError(Exception):
    """Base of every error django-meisa raises; messages hold no key, body or personal data.

    ``retryable``: whether the same call can succeed later.
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
    """The mapper raised or returned something unusable; the message names the entry
    (e.g. ``MEISA["CUSTOM_FIELDS"]["plan"]``), never the user's data."""


class MeisaNoEmailError(MeisaMappingError):
    """The user has no email address, so there is nothing to upsert (a skip, not a failure)."""


class MeisaConnectionError(MeisaError):
    """Meisa could not be reached (DNS, refused connection, TLS, reset). Retryable."""

    retryable = True


class MeisaTimeoutError(MeisaConnectionError):
    """Meisa did not answer within ``MEISA["TIMEOUT"]``. Retryable."""


class MeisaAPIError(MeisaError):
    """Meisa answered with an error status or an unusable body.

    ``response_text`` (truncated) is for debugging, never in the message: it may echo
    personal data.
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
    """3xx: never followed, so the key cannot leak; ``MEISA["BASE_URL"]`` needs fixing."""


class MeisaResponseError(MeisaAPIError):
    """A 2xx whose body is not the documented JSON (a proxy's page, a cut body). Retryable:
    the upsert is idempotent and such faults are usually transient."""

    retryable = True


class MeisaRetriesExhaustedError(MeisaError):
    """A contact sync failed retryably for ``SYNC_GIVE_UP_AFTER_SWEEPS`` sweep cycles and
    is marked failed until the user changes; the message carries the last error."""


class MeisaStaleListError(MeisaError):
    """Meisa's list is older (``as_of``) than the one applied; not applied. Retryable."""

    retryable = True


class MeisaSuppressionUnavailable(MeisaError):
    """The suppression table could not be read, so nothing was sent (fail closed, unless
    ``SUPPRESSION_FAIL_OPEN``); the database error is the ``__cause__``."""

    retryable = True


class MeisaSuppressionNotLoaded(MeisaSuppressionUnavailable):
    """The mirror was never loaded, so nothing was sent (fail closed). A refresh is already
    requested; ``manage.py meisa_refresh_suppressions`` fills the mirror at once."""


class MeisaSuppressionStale(MeisaSuppressionUnavailable):
    """The mirror is older than ``SUPPRESSION_MAX_AGE`` and ``SUPPRESSION_STALE_POLICY``
    is "raise" (the default, "warn", sends and reports it)."""


class MeisaRecipientsSuppressed(MeisaError):
    """Every recipient of some messages is suppressed (``ALL_SUPPRESSED="raise"``); raised
    after the rest was sent. ``messages``: those not sent; ``sent``: how many were."""

    def __init__(self, messages: list[object], sent: int) -> None:
        self.messages = messages
        self.sent = sent
        super().__init__(
            f"{len(messages)} message(s) not sent: every recipient is suppressed "
            f"({sent} other message(s) sent)."
        )
