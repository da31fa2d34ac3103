"""One ``send_messages`` batch's recipients: each distinct string parsed once, in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    least one, and no To/Cc/Bcc header. Such a message needs no per-field parse before
    the lookup, and none after it when it has nothing to drop (``untouched``).
    """
    headers = getattr(message, "extra_headers", None)
    if headers and any(str(name).lower() in HEADER_FIELDS for name in headers):
        return None
    fields, values = _values(message)
    plain = fields and all(values) and set(map(type, values)) == {str}
    return values if plain else None


def untouched(message: Any, good: set[str]) -> bool:
    """True when ``message`` may go out exactly as it is: re-read now, every value it
    would be sent to is a string in ``good``. Called after the lookup."""
    fields, values = _values(message)
    return fields and set(map(type, values)) == {str} and good.issuperset(values)


def envelope(message: Any) -> list[Any]:
    """What ``message.recipients()`` returns (an empty list when it has none)."""
    recipients = getattr(message, "recipients", None)
    return list(recipients()) if callable(recipients) else []


def _values(message: Any) -> tuple[bool, list[Any]]:
    # Whether to, cc or bcc holds anything, and their values then what recipients()
    # returns, in one list (spelled out: this runs twice per message of every batch).
    values = [
        *(getattr(message, "to", None) or ()),
        *(getattr(message, "cc", None) or ()),
        *(getattr(message, "bcc", None) or ()),
    ]
    fields = bool(values)
    values += envelope(message)
    return fields, values
