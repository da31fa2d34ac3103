"""SuppressionEmailBackend: drops suppressed recipients, then hands mail to the real backend."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import chain
from typing import Any

import django
from django.core.mail.backends.base import BaseEmailBackend
from django.db import Error as DatabaseError
from django.utils.module_loading import import_string

from django_meisa import conf
from django_meisa.exceptions import (
    MeisaConfigurationError,
    MeisaRecipientsSuppressed,
    MeisaSuppressionNotLoaded,
    MeisaSuppressionStale,
    MeisaSuppressionUnavailable,
)
from django_meisa.signals import email_suppressed
from django_meisa.suppression import freshness as mirror
from django_meisa.suppression.addresses import MeisaRecipient, parse_address_header
from django_meisa.suppression.batch import (
    HEADER_FIELDS,
    RecipientBatch,
    derived_envelope,
    drop_plain,
    envelope,
    plain_values,
)
from django_meisa.suppression.heal import request_refresh
from django_meisa.suppression.lookup import suppressed_keys

logger = logging.getLogger("django_meisa.backends")

#: Set on a message (to a reason string) to send it unfiltered, when
#: ``MEISA["SUPPRESSION_ALLOW_BYPASS"]`` is True. Logged every time.
BYPASS_ATTRIBUTE = "meisa_bypass_suppression"
RECIPIENT_FIELDS = ("to", "cc", "bcc")
HEADER_PREFIX = "header:"
ENVELOPE = "recipients()"
MAILERS_SUPPORTED = django.VERSION >= (6, 1)


class SuppressionEmailBackend(BaseEmailBackend):
    """An email backend that never delivers to an address in ``SuppressedEmail``.

    Classic settings: ``EMAIL_BACKEND = "django_meisa.backends.SuppressionEmailBackend"``
    and ``MEISA["EMAIL_BACKEND"] = "<the real backend>"``; connection options
    (``host``, ``fail_silently``...) are passed through to the real backend.
    Django 6.1 ``MAILERS``: ``OPTIONS`` holds ``"backend"`` (a dotted path, with its own
    ``"options"``) or ``"mailer"`` (another alias). Each ``send_messages`` batch costs
    one indexed query per ``SUPPRESSION_LOOKUP_BATCH_SIZE`` recipients.
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        alias: str | None = None,
        backend: str | None = None,
        mailer: str | None = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("_ignore_unknown_kwargs", None)
        if MAILERS_SUPPORTED:
            super().__init__(alias=alias)
        else:
            super().__init__(fail_silently=fail_silently)
        self.fail_silently = fail_silently
        self.inner = self.build_inner_backend(alias, backend, mailer, options, kwargs)
        self.freshness: mirror.MirrorFreshness | None = None
        self.batch = RecipientBatch()

    # Hooks ----------------------------------------------------------------------------

    def build_inner_backend(
        self,
        alias: str | None,
        backend: str | None,
        mailer: str | None,
        options: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> BaseEmailBackend:
        """Return the real backend instance. Called once by ``__init__``.

        Raises ``MeisaConfigurationError`` when the configuration would wrap this
        backend around itself (a loop) or names nothing usable.
        """
        if mailer is not None:
            return _inner_mailer(alias, mailer, backend, kwargs)
        path = backend or conf.get_setting("EMAIL_BACKEND")
        klass = _backend_class(path, 'MEISA["EMAIL_BACKEND"]' if backend is None else "backend")
        extra: dict[str, Any] = {**(options or {}), **kwargs}
        if self.fail_silently:
            extra.setdefault("fail_silently", True)
        if alias is not None:
            extra["alias"] = alias
        return klass(**extra)

    def recipients_of(self, message: Any) -> dict[str, list[MeisaRecipient]]:
        """Return the parsed ``to``, ``cc`` and ``bcc`` of ``message``, plus any To/Cc/Bcc
        in ``extra_headers`` (as ``"header:<name>"``) and what ``message.recipients()``
        returns (as ``"recipients()"``), so a message subclass can't add a recipient
        the filter never saw."""
        parsed = {
            field: self.batch.parse_all(getattr(message, field, None)) for field in RECIPIENT_FIELDS
        }
        headers = getattr(message, "extra_headers", None)
        if headers:
            for name, value in headers.items():
                if str(name).lower() in HEADER_FIELDS:
                    parsed[HEADER_PREFIX + str(name)] = found = parse_address_header(value)
                    self.batch.add(found)
        parsed[ENVELOPE] = self.batch.parse_all(envelope(message))
        return parsed

    def lookup(self, keys: set[str]) -> set[str] | None:
        """Return the suppressed keys among ``keys``; None means "send nothing".

        Also reads the mirror's freshness (``self.freshness``, cached per process for a
        few seconds, so no query per message). Fails closed: a database error raises
        ``MeisaSuppressionUnavailable`` (or, with ``fail_silently``, logs and returns
        None). With ``MEISA["SUPPRESSION_FAIL_OPEN"]`` it logs and returns an empty set.
        """
        self.freshness = None
        try:
            self.freshness = mirror.mirror_freshness()
            return suppressed_keys(keys)
        except DatabaseError as err:
            if conf.get_setting("SUPPRESSION_FAIL_OPEN"):
                logger.error("Suppression table unreadable; sending UNFILTERED (fail-open)")
                return set()
            logger.error("Suppression table unreadable; sending nothing (fail closed)")
            if self.fail_silently:
                return None
            raise MeisaSuppressionUnavailable(
                "The suppression table could not be read, so no mail was sent. "
                'Fix the database, or set MEISA["SUPPRESSION_FAIL_OPEN"] to accept the risk.'
            ) from err

    def mirror_problem(self) -> MeisaSuppressionUnavailable | None:
        """Return the error to raise instead of sending filtered mail, or None.

        Called by ``send_messages`` after the lookup. A never-loaded mirror gives
        ``MeisaSuppressionNotLoaded`` (None with ``SUPPRESSION_FAIL_OPEN``: local
        entries still filter); a stale one gives ``MeisaSuppressionStale`` under the
        "raise" policy, None under "warn". Either way it is reported (rate-limited ERROR
        log and ``suppression_stale`` signal) and one refresh is requested.
        """
        state = self.freshness
        if state is None or (state.loaded and not state.stale):
            return None
        enabled = bool(conf.get_setting("ENABLED"))
        if enabled:
            request_refresh()
        text = mirror.describe(state)
        if not state.loaded and not conf.get_setting("SUPPRESSION_FAIL_OPEN"):
            mirror.report(state, type(self), "sending nothing (fail closed)")
            off = "" if enabled else ' MEISA["ENABLED"] is False, so no refresh runs.'
            return MeisaSuppressionNotLoaded(
                f"The suppression mirror {text}, so no mail was sent.{off} Run 'manage.py "
                "meisa_refresh_suppressions' (a refresh was also requested from the "
                "Celery workers), and run Celery beat with the refresh entry. To send "
                'unfiltered meanwhile, set MEISA["SUPPRESSION_FAIL_OPEN"] = True.'
            )
        if state.loaded and _stale_policy() == "raise":
            mirror.report(state, type(self), "sending nothing (SUPPRESSION_STALE_POLICY)")
            return MeisaSuppressionStale(
                f"The suppression mirror {text}, so no mail was sent "
                '(MEISA["SUPPRESSION_STALE_POLICY"] = "raise"). Check the Celery beat and '
                "worker, and the refresh's last error in the admin."
            )
        mirror.report(state, type(self), "sending anyway, filtered by what it holds")
        return None

    def bypassed(self, message: Any) -> bool:
        """True when ``message`` may skip the filter (opt-in twice, logged)."""
        reason = getattr(message, BYPASS_ATTRIBUTE, None)
        if not reason:
            return False
        if not conf.get_setting("SUPPRESSION_ALLOW_BYPASS"):
            logger.warning(
                "%s is set on a message but ignored: set MEISA"
                '["SUPPRESSION_ALLOW_BYPASS"] = True to allow bypasses',
                BYPASS_ATTRIBUTE,
            )
            return False
        logger.warning("Suppression BYPASSED for one message (reason: %s)", str(reason)[:200])
        return True

    def filter_message(
        self, message: Any, parsed: dict[str, list[MeisaRecipient]], sendable: set[str]
    ) -> list[str]:
        """Remove every recipient whose key is not in ``sendable`` (the batch's checked
        keys less the suppressed ones) from ``message`` in place.

        Kept recipients stay exactly as given (display names and all); To/Cc/Bcc in
        ``extra_headers`` are rewritten without the dropped ones. Returns the dropped
        ``to``/``cc``/``bcc`` addresses, also recorded on ``message.meisa_suppressed``.
        """
        dropped: list[str] = []
        for field, recipients in parsed.items():
            if field == ENVELOPE:
                continue
            kept = [r.original for r in recipients if r.key in sendable]
            if len(kept) == len(recipients):
                continue
            if field.startswith(HEADER_PREFIX):
                _rewrite_header(message, field[len(HEADER_PREFIX) :], kept)
                continue
            dropped += [r.addr_spec or str(r.original) for r in recipients if r.key not in sendable]
            setattr(message, field, kept)
        message.meisa_suppressed = dropped
        return dropped

    def envelope_is_clean(self, message: Any, sendable: set[str]) -> bool:
        """True when every address ``message.recipients()`` now returns was checked and
        is not suppressed. Called after ``filter_message``; a False drops the message."""
        for recipient in self.batch.parse_all(envelope(message)):
            if recipient.key not in sendable:
                logger.warning("A message's recipients() returned an unchecked address; not sent")
                return False
        return True

    # The entry point ----------------------------------------------------------------------

    def open(self) -> bool | None:
        """Open the real backend's connection."""
        return self.inner.open()

    def close(self) -> None:
        """Close the real backend's connection."""
        self.inner.close()

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Filter every message, send the ones with recipients left, return how many sent.

        A message whose every recipient is suppressed is not sent and not counted; with
        ``MEISA["SUPPRESSION_ALL_SUPPRESSED"] = "raise"``, ``MeisaRecipientsSuppressed``
        is raised after the rest of the batch went out (unless ``fail_silently``).
        While the mirror can't be trusted (``mirror_problem``), only bypassed messages
        and messages without recipients are sent; when any other message was held back,
        the problem is then raised (unless ``fail_silently``).
        """
        messages = list(email_messages or [])
        if not messages:
            return 0
        self.batch = RecipientBatch()
        plain = [plain_values(message) for message in messages]
        parsed = [
            None if values else self.recipients_of(message)
            for message, values in zip(messages, plain, strict=True)
        ]
        self.batch.parse_strings(chain.from_iterable(values for values in plain if values))
        checked = self.batch.checked()
        suppressed = self.lookup(checked)
        if suppressed is None:
            return 0
        problem = self.mirror_problem()
        outgoing, dropped, unfiltered = self._filter_batch(messages, parsed, checked - suppressed)
        held: list[Any] = []
        if problem is not None:
            # Bypassed messages, and those without recipients, never needed the mirror.
            trusted = {id(message) for message in unfiltered}
            held = [message for message in outgoing if id(message) not in trusted]
            outgoing = unfiltered
        sent = int(self.inner.send_messages(outgoing) or 0) if outgoing else 0
        if held and problem is not None and not self.fail_silently:
            raise problem
        if dropped and _policy() == "raise" and not self.fail_silently:
            raise MeisaRecipientsSuppressed(dropped, sent)
        return sent

    def _filter_batch(
        self,
        messages: list[Any],
        parsed: list[dict[str, list[MeisaRecipient]] | None],
        sendable: set[str],
    ) -> tuple[list[Any], list[Any], list[Any]]:
        outgoing: list[Any] = []
        dropped_messages: list[Any] = []
        unfiltered: list[Any] = []
        good = self.batch.good(sendable)
        for message, recipients in zip(messages, parsed, strict=True):
            if self._unfiltered(message, recipients):
                outgoing.append(message)
                unfiltered.append(message)
                continue
            # A plain message keeps exactly its values in good; anything else (or a
            # plain one that changed since) takes the full per-field filter.
            plain = drop_plain(message, good, self.batch.parsed) if recipients is None else None
            if plain is not None:
                dropped, total = plain
                message.meisa_suppressed = dropped
            else:
                recipients = recipients or self.recipients_of(message)
                total = sum(len(recipients[field]) for field in RECIPIENT_FIELDS)
                dropped = self.filter_message(message, recipients, sendable)
            if dropped:
                self._report(message, dropped, total)
            clean = derived_envelope(message) or self.envelope_is_clean(message, sendable)
            if len(dropped) == total or not clean:
                dropped_messages.append(message)
            else:
                outgoing.append(message)
        return outgoing, dropped_messages, unfiltered

    def _unfiltered(self, message: Any, recipients: dict[str, list[MeisaRecipient]] | None) -> bool:
        # Sent as it is: no recipients at all (a plain message has some), or bypassed.
        if recipients is not None and _no_recipients(recipients):
            return True
        return self.bypassed(message)

    def _report(self, message: Any, dropped: list[str], total: int) -> None:
        logger.info(
            "Suppressed %d of %d recipient(s) of a message%s",
            len(dropped),
            total,
            "; not sent" if len(dropped) == total else "",
        )
        for receiver, error in email_suppressed.send_robust(
            sender=type(self), message=message, suppressed=list(dropped)
        ):
            if isinstance(error, Exception):
                logger.error("email_suppressed receiver %r raised %r", receiver, error)


def _no_recipients(recipients: dict[str, list[MeisaRecipient]]) -> bool:
    total = sum(len(recipients[field]) for field in RECIPIENT_FIELDS)
    return total == 0 and not recipients[ENVELOPE]


def _stale_policy() -> str:
    return str(conf.get_setting("SUPPRESSION_STALE_POLICY")).lower()


def _rewrite_header(message: Any, name: str, kept: list[Any]) -> None:
    if kept:
        message.extra_headers[name] = ", ".join(str(value) for value in kept)
    else:
        del message.extra_headers[name]


def _policy() -> str:
    return str(conf.get_setting("SUPPRESSION_ALL_SUPPRESSED")).lower()


def is_wrapper(path: Any) -> bool:
    """True when ``path`` (a dotted path or class) is a ``SuppressionEmailBackend``."""
    if isinstance(path, str):
        try:
            path = import_string(path)
        except ImportError:
            return False
    return isinstance(path, type) and issubclass(path, SuppressionEmailBackend)


def _backend_class(path: Any, setting: str) -> type[BaseEmailBackend]:
    if not isinstance(path, str) or not path:
        raise MeisaConfigurationError(f"{setting} must be the dotted path of an email backend.")
    try:
        klass = import_string(path)
    except ImportError as err:
        raise MeisaConfigurationError(f"{setting} = {path!r} can't be imported: {err}") from err
    if is_wrapper(klass):
        raise MeisaConfigurationError(
            f"{setting} = {path!r} is SuppressionEmailBackend itself: it would wrap itself "
            "(a loop). Name your real backend there, e.g. "
            '"django.core.mail.backends.smtp.EmailBackend".'
        )
    return klass


def _inner_mailer(
    alias: str | None, mailer: str, backend: str | None, kwargs: dict[str, Any]
) -> BaseEmailBackend:
    if not MAILERS_SUPPORTED:
        raise MeisaConfigurationError('OPTIONS["mailer"] needs Django 6.1+ MAILERS.')
    if backend is not None:
        raise MeisaConfigurationError('Give OPTIONS "backend" or "mailer", not both.')
    from django.conf import settings
    from django.core.mail import mailers

    config = getattr(settings, "MAILERS", {}).get(mailer)
    if config is None:
        raise MeisaConfigurationError(f'OPTIONS["mailer"] = {mailer!r} is not in MAILERS.')
    if mailer == alias or is_wrapper(config.get("BACKEND", "")):
        raise MeisaConfigurationError(
            f"MAILERS[{alias!r}] wraps mailer {mailer!r}, which is a SuppressionEmailBackend "
            "too (a loop). Point it at the mailer that really sends."
        )
    return mailers[mailer]
