"""One ``send_messages`` batch's recipients: each distinct string parsed once, in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.mail import EmailMessage

from django_meisa.suppression.addresses import MeisaRecipient, parse_recipient, parse_recipients

HEADER_FIELDS = ("to", "cc", "bcc")


class RecipientBatch:
    """The recipients the email backend met in one batch, each parsed once.

    A message meets each recipient about three times (its field, ``recipients()``, the
    envelope check); each distinct string is parsed on the first. ``checked`` is read
    once, for the lookup: a value first met after it is never counted as checked.
    """

    def __init__(self) -> None:
        self.parsed: dict[str, MeisaRecipient] = {}
        self.others: list[MeisaRecipient] = []

    def parse_all(self, values: Any) -> list[MeisaRecipient]:
        """Parse ``values`` (a field's list); empty values are no recipient at all
        (Django's ``recipients()`` skips them too)."""
        memo = self.parsed
        return [
            (memo.get(value) if type(value) is str else None) or self._parse_new(value)
            for value in values or ()
            if value
        ]

    def _parse_new(self, value: Any) -> MeisaRecipient:
        # Only exact strs are memoised: any other object could hash like a string and
        # still convert to another address.
        found = parse_recipient(value)
        if type(value) is str:
            self.parsed[value] = found
        else:
            self.others.append(found)
        return found

    def parse_strings(self, values: Iterable[str]) -> None:
        """Parse each distinct string not met yet, in bulk (one regex and one
        ``lower()`` over them when all are plain addresses)."""
        fresh = list(set(values).difference(self.parsed))
        self.parsed.update(zip(fresh, parse_recipients(fresh), strict=True))

    def add(self, recipients: list[MeisaRecipient]) -> None:
        """Count recipients parsed elsewhere (a To/Cc/Bcc header) as met."""
        self.others.extend(recipients)

    def checked(self) -> set[str]:
        """Every key met so far: the keys the lookup must check."""
        keys: set[Any] = {r.key for r in self.parsed.values()}
        keys.update(r.key for r in self.others)
        keys.discard(None)
        return keys

    def good(self, sendable: set[str]) -> set[str]:
        """The distinct strings whose key is in ``sendable`` (checked, not suppressed)."""
        return {value for value, r in self.parsed.items() if r.key in sendable}


def plain_values(message: Any) -> list[str] | None:
    """The recipients of a plain message (the usual kind), or None.

    Plain: ``to``/``cc``/``bcc`` and ``recipients()`` hold only non-empty strings, at
    least one, and no To/Cc/Bcc header. Such a message needs no per-field parse, before
    the lookup or after it (``drop_plain``).
    """
    headers = getattr(message, "extra_headers", None)
    if headers and any(str(name).lower() in HEADER_FIELDS for name in headers):
        return None
    values = _fields(message)
    if not values or not all(values) or set(map(type, values)) != {str}:
        return None
    if not derived_envelope(message):
        values += envelope(message)
        if not all(values) or set(map(type, values)) != {str}:
            return None
    return values


def drop_plain(
    message: Any, good: set[str], parsed: dict[str, MeisaRecipient]
) -> tuple[list[str], int] | None:
    """Remove from a plain message, in place, every value not in ``good`` (checked and
    not suppressed); return the dropped addr-specs and how many values it had.

    Called after the lookup, on ``to``/``cc``/``bcc`` read again: None (and the message
    left as it is, for the full filter) unless every value now is a string parsed
    before the lookup. ``recipients()`` is not checked here (``envelope_is_clean``).
    """
    fields = (
        getattr(message, "to", None) or (),
        getattr(message, "cc", None) or (),
        getattr(message, "bcc", None) or (),
    )
    values = [*fields[0], *fields[1], *fields[2]]
    if not values or set(map(type, values)) != {str}:
        return None
    if good.issuperset(values):  # the usual case: nothing to drop
        return [], len(values)
    if not parsed.keys() >= set(values):
        return None
    dropped = [parsed[value].addr_spec or value for value in values if value not in good]
    for name, field in zip(HEADER_FIELDS, fields, strict=True):
        if not good.issuperset(field):
            setattr(message, name, [value for value in field if value in good])
    return dropped, len(values)


def envelope(message: Any) -> list[Any]:
    """What ``message.recipients()`` returns (an empty list when it has none)."""
    recipients = getattr(message, "recipients", None)
    return list(recipients()) if callable(recipients) else []


def derived_envelope(message: Any) -> bool:
    """True when ``message.recipients()`` is Django's own, which returns the non-empty
    values of ``to``, ``cc`` and ``bcc``: checking those fields checks it too."""
    cls = type(message)
    known = _OWN_RECIPIENTS.get(cls)
    if known is None:
        known = _OWN_RECIPIENTS[cls] = _django_recipients(cls)
    return known and "recipients" not in getattr(message, "__dict__", HEADER_FIELDS)


_OWN_RECIPIENTS: dict[type, bool] = {}  # per message class: is recipients() Django's?


def _django_recipients(cls: type) -> bool:
    # to/cc/bcc must be instance attributes read plainly: a property or __getattr__
    # could answer recipients() differently from the filter.
    return (
        getattr(cls, "recipients", None) is EmailMessage.recipients
        and cls.__getattribute__ is object.__getattribute__
        and not any(hasattr(cls, name) for name in (*HEADER_FIELDS, "__getattr__"))
    )


def _fields(message: Any) -> list[Any]:
    # The values of to, cc and bcc, in one list (spelled out: this runs per message).
    return [
        *(getattr(message, "to", None) or ()),
        *(getattr(message, "cc", None) or ()),
        *(getattr(message, "bcc", None) or ()),
    ]
