"""Email address normalization (the one suppression key) and strict recipient parsing."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from email import errors as email_errors
from email.headerregistry import Address, AddressHeader
from typing import Any

__all__ = [
    "MeisaRecipient",
    "normalize_email",
    "normalize_many",
    "parse_address_header",
    "parse_recipient",
]


def normalize_email(address: str) -> str:
    """Return the suppression key of ``address``: the ONE normalization, used everywhere.

    Called when storing (refresh, upsert statuses, the admin) and when checking (the
    email backend, ``is_suppressed``). Trims surrounding whitespace, lowercases the whole
    address (NFC-composing the local part), and IDNA-encodes the domain (the encoding
    Django uses when it sends), dropping one trailing dot of the domain. Never strips
    ``+tags`` or dots: those can be different mailboxes. Never raises: a domain that
    can't be IDNA-encoded is kept lowercased, so a listed oddity is still stored and
    matched.
    """
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return _fold(text)
    if text.isascii() and not domain.endswith("."):
        return text.lower()  # the common case, kept fast for million-address refreshes
    # The domain is not NFC-composed first: IDNA's own mapping decides, exactly as when
    # Django encodes the domain it sends to (NFC could pick a different code point).
    return f"{_fold(local)}@{_encode_domain(domain.lower())}"


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", text).lower()


# In a "\n"-joined ASCII batch, anything that makes normalize_email() differ from a
# plain lower(): whitespace strip() removes (ASCII \s and \x1c-\x1f, "\n" aside), a
# trailing domain dot; and a backslash, so the result is also valid COPY text.
_SLOW_MARKERS = (" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\\", ".\n")


def normalize_many(addresses: list[str]) -> list[str]:
    """Return ``[normalize_email(a) for a in addresses]``, fast for plain ASCII batches.

    Called by the refresh for each batch of Meisa's list: one ``lower()`` over the
    joined batch when no address needs more than lowercasing (the usual case), the
    per-address function otherwise. Identical results either way (property-tested).
    """
    if not addresses:
        return []
    text = "\n".join(addresses)
    if (
        text.isascii()
        and text.count("\n") == len(addresses) - 1
        and not text.endswith(".")
        and not any(marker in text for marker in _SLOW_MARKERS)
    ):
        return text.lower().split("\n")
    return [normalize_email(address) for address in addresses]


@functools.lru_cache(maxsize=65536)
def _encode_domain(domain: str) -> str:
    # Cached: a million-address list has far fewer distinct domains. Pure function of
    # its argument, so the cache can never go stale.
    if domain.endswith(".") and len(domain) > 1:
        domain = domain[:-1]
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return domain


@dataclass(frozen=True)
class MeisaRecipient:
    """One recipient as given to Django: the original value and its suppression key.

    ``key`` is None when the value is not exactly one valid address; such a recipient
    is treated as suppressed, because nothing can prove it isn't.
    """

    original: Any
    addr_spec: str | None
    key: str | None

    @property
    def parseable(self) -> bool:
        return self.key is not None


def parse_recipient(value: Any) -> MeisaRecipient:
    """Parse one entry of a message's ``to``, ``cc`` or ``bcc`` strictly.

    Accepts what Django accepts: ``"addr"``, ``"Name <addr>"`` (display names may hold
    commas when quoted), ``(name, addr)`` tuples, lazy strings, and
    ``email.headerregistry.Address`` objects (Django 6). A string holding several
    addresses (``"x@b.com, y@c.com"``), a group, CR/LF, header defects or a missing
    domain all give an unparseable recipient (``key`` None). Never raises.
    """
    addr_spec = _addr_spec(value)
    if addr_spec is None:
        return MeisaRecipient(original=value, addr_spec=None, key=None)
    return MeisaRecipient(original=value, addr_spec=addr_spec, key=_recipient_key(addr_spec))


def parse_address_header(value: Any) -> list[MeisaRecipient]:
    """Parse a To/Cc/Bcc header value (several addresses allowed) into recipients.

    Used for addresses a message carries in ``extra_headers``. Each mailbox keeps its
    own text as ``original``; a value that doesn't parse cleanly is one unparseable
    recipient.
    """
    text = str(value)
    try:
        parsed = AddressHeader.value_parser(text)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError):
        return [MeisaRecipient(original=text, addr_spec=None, key=None)]
    if "\r" in text or "\n" in text or parsed.all_defects:
        return [MeisaRecipient(original=text, addr_spec=None, key=None)]
    return [parse_recipient(str(mailbox).strip()) for mailbox in parsed.all_mailboxes]


_recipient_key = functools.lru_cache(maxsize=8192)(normalize_email)


def _addr_spec(value: Any) -> str | None:
    if isinstance(value, Address):
        return _parse_single(value.addr_spec)
    if isinstance(value, tuple):
        if len(value) != 2 or not isinstance(value[1], str):
            return None
        return _parse_single(value[1])
    if isinstance(value, str) or hasattr(value, "__html__") or _is_lazy(value):
        return _parse_single(str(value))
    return None


def _is_lazy(value: Any) -> bool:
    from django.utils.functional import Promise

    return isinstance(value, Promise)


# A plain ``dot-atom@dot-atom`` in ASCII (RFC 5322 atext): the header parser would
# return it unchanged, with one mailbox and no defects. Matching it first skips that
# parser (about 0.2 ms an address), the bulk of the wrapper's cost on a large batch.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


# The email backend parses each recipient about three times per batch (its field, the
# message's recipients(), the envelope check). Both steps are pure functions of a str,
# so a small cache serves the repeats and can never go stale.
@functools.lru_cache(maxsize=8192)
def _parse_single(text: str) -> str | None:
    if not text or "\r" in text or "\n" in text or "\x00" in text:
        return None
    if _PLAIN_ADDR_SPEC.fullmatch(text):
        return text
    try:
        parsed = AddressHeader.value_parser(text)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError):
        return None
    # Non-ASCII local parts are valid with SMTPUTF8 (Django 6.1 accepts them too).
    if any(not isinstance(d, email_errors.NonASCIILocalPartDefect) for d in parsed.all_defects):
        return None
    mailboxes = parsed.all_mailboxes
    # Exactly one mailbox, and nothing the parser skipped: "x@b.com, y@c.com" is two.
    if len(mailboxes) != 1 or len(parsed.addresses) != 1:
        return None
    mailbox = mailboxes[0]
    if not mailbox.local_part or not mailbox.domain:
        return None
    return str(mailbox.addr_spec)
