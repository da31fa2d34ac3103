"""The one suppression key (``canonical_key``) and strict recipient parsing."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from email import errors as email_errors
from email.headerregistry import Address, AddressHeader
from itertools import repeat
from typing import Any, NamedTuple

__all__ = [
    "MAX_KEY_LENGTH",
    "MeisaRecipient",
    "canonical_key",
    "canonical_keys",
    "normalize_email",
    "normalize_many",
    "parse_address_header",
    "parse_recipient",
    "parse_recipients",
]


#: The longest key stored (``SuppressedEmail.email``'s max_length); longer values are
#: no deliverable address (RFC 5321 caps a path at 256 octets) and are rejected.
MAX_KEY_LENGTH = 512


def canonical_key(value: Any) -> str | None:
    """Return THE suppression key of ``value``, or None when it has none.

    The one function behind every stored key (Meisa's list, upsert statuses, the admin)
    and every lookup (the email backend, ``is_suppressed``): whatever form a value
    takes (``"Name <addr>"``, ``<addr>``, ``addr (comment)``, ``"quoted"@local``, mixed
    case, Unicode or IDNA domains), it is parsed strictly to its one addr-spec and then
    normalized (``normalize_email``). None means the value is not exactly one storable
    address: several addresses, none, NUL, lone surrogates, over-long, or a key that
    would not parse back to itself. Such a value is rejected when stored and dropped
    when sent to (nothing proves it isn't suppressed). Never raises.
    """
    if type(value) is str:
        fast = _fast_parse(value)
        if fast is not None:
            return fast[1]
    addr_spec = _addr_spec(value)
    return None if addr_spec is None else _key_of(addr_spec)


def canonical_keys(values: Iterable[Any]) -> list[str | None]:
    """Return ``[canonical_key(v) for v in values]``, fast for batches of plain addresses.

    For bulk callers (a refresh canonicalising Meisa's list, a re-key). One regex and
    one ``lower()`` over the joined batch when every value is a plain ASCII
    ``dot-atom@dot-atom`` string, ``canonical_key`` per value otherwise. Identical
    results either way (property-tested).
    """
    items = values if isinstance(values, list) else list(values)
    keys = _plain_batch_keys(items)
    if keys is not None:
        return keys  # type: ignore[return-value]
    return [canonical_key(item) for item in items]


def _plain_batch_keys(items: list[Any]) -> list[str] | None:
    # The keys of ``items`` when every one is a plain address string (each is then its
    # own addr-spec), else None. Exact strs only (checked in C): a str subclass's str()
    # may differ from its text.
    if not items or set(map(type, items)) != {str}:
        return None if items else []
    text = "\n".join(items)
    if (
        text.isascii()
        and text.count("\n") == len(items) - 1
        and _PLAIN_BATCH.fullmatch(text)
        and max(map(len, items)) <= MAX_KEY_LENGTH
    ):
        # Meisa's list is usually lowercase already: then each value is its own key,
        # and a million strings are neither split out again nor held twice.
        return list(items) if text.islower() else text.lower().split("\n")
    return None


def _fast_parse(text: str) -> tuple[str, str] | None:
    """``(addr_spec, key)`` of a recipient in one of the fast forms, else None.

    None means only "not sure": the caller then asks the full parser. The forms are
    ASCII ``local@domain`` (dot-atoms), ``<local@domain>`` and ``Name <local@domain>``
    with plain words as the name; for each, the header parser gives exactly this
    addr-spec, and ``normalize_email`` of it is its ``lower()`` (property-tested).
    """
    match = _FAST_FORM.fullmatch(text)
    if match is None:
        return None
    addr_spec = match[match.lastindex or 0]
    if len(addr_spec) > MAX_KEY_LENGTH:
        return None
    return addr_spec, addr_spec.lower()


@functools.lru_cache(maxsize=8192)
def _key_of(addr_spec: str) -> str | None:
    # Cached: the backend asks about each recipient several times per batch (pure).
    key = normalize_email(addr_spec)
    if not 0 < len(key) <= MAX_KEY_LENGTH or not _encodable(key):
        return None
    if _PLAIN_ADDR_SPEC.fullmatch(key):
        return key  # a lowercased plain address is plain too: its own key
    # Lowercasing or IDNA can make a text that no longer parses, or parses to something
    # else; such a key could never be matched by a lookup, so it is no key at all.
    again = _parse_single(key)
    return key if again is not None and normalize_email(again) == key else None


def _encodable(key: str) -> bool:
    # A lone surrogate can't be stored by any database driver (nor sent over SMTP).
    try:
        key.encode("utf-8")
    except UnicodeError:
        return False
    return True


def normalize_email(address: str) -> str:
    """Return ``address`` (an addr-spec) trimmed, lowercased, its domain IDNA-encoded.

    The normalization step of ``canonical_key``, which parses first: call that one to
    get a key. Lowercases the whole address (NFC-composing the local part), and
    IDNA-encodes the domain (the encoding Django uses when it sends), dropping one
    trailing dot of the domain. Never strips ``+tags`` or dots: those can be different
    mailboxes. Never raises: a domain that can't be IDNA-encoded is kept lowercased.
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


def normalize_many(addresses: list[str]) -> list[str]:
    """Return ``[canonical_key(a) or "" for a in addresses]``, fast for plain batches.

    Called by the refresh for each batch of Meisa's list ("" marks an entry that has no
    key: the caller counts and skips it). ``canonical_keys`` does the work.
    """
    return [key or "" for key in canonical_keys(addresses)]


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


class MeisaRecipient(NamedTuple):
    """One recipient as given to Django: the original value and its suppression key.

    ``key`` is None when the value is not exactly one valid address; such a recipient
    is treated as suppressed, because nothing can prove it isn't. A named tuple, not a
    frozen dataclass: the email backend makes one per distinct recipient of a batch,
    and this is the cheapest immutable record (a third of the dataclass's cost).
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
    if type(value) is str:
        fast = _fast_parse(value)
        if fast is not None:
            return MeisaRecipient(value, fast[0], fast[1])
    addr_spec = _addr_spec(value)
    key = None if addr_spec is None else _key_of(addr_spec)
    if key is None:
        return MeisaRecipient(original=value, addr_spec=None, key=None)
    return MeisaRecipient(original=value, addr_spec=addr_spec, key=key)


def parse_recipients(values: list[Any]) -> list[MeisaRecipient]:
    """Return ``[parse_recipient(v) for v in values]``, fast for batches of plain addresses.

    Called by the email backend with the distinct recipients of a batch; shares
    ``canonical_keys``' bulk path (identical results, property-tested).
    """
    keys = _plain_batch_keys(values)
    if keys is None:
        return [parse_recipient(value) for value in values]
    # Each plain value is its own addr-spec. tuple.__new__ (what a named tuple's _make
    # calls) builds the records in C: a third of calling the class per value.
    return list(map(tuple.__new__, repeat(MeisaRecipient), zip(values, values, keys, strict=True)))


def parse_address_header(value: Any) -> list[MeisaRecipient]:
    """Parse a To/Cc/Bcc header value (several addresses allowed) into recipients.

    Used for addresses a message carries in ``extra_headers``. Each mailbox keeps its
    own text as ``original``; a value that doesn't parse cleanly is one unparseable
    recipient.
    """
    text = str(value)
    try:
        parsed = AddressHeader.value_parser(text)
        defects = parsed.all_defects  # raises AttributeError on "a@[" (a stdlib bug)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError, AttributeError):
        return [MeisaRecipient(original=text, addr_spec=None, key=None)]
    if "\r" in text or "\n" in text or defects:
        return [MeisaRecipient(original=text, addr_spec=None, key=None)]
    return [parse_recipient(str(mailbox).strip()) for mailbox in parsed.all_mailboxes]


def _addr_spec(value: Any) -> str | None:
    if isinstance(value, Address):
        return _parse_single(value.addr_spec)
    if isinstance(value, tuple):
        if len(value) != 2 or not isinstance(value[1], str):
            return None
        return _parse_single(value[1])
    if isinstance(value, str) or hasattr(value, "__html__") or _is_lazy(value):
        return _parse_text(str(value))
    return None


def _parse_text(text: str) -> str | None:
    addr_spec = _parse_single(text)
    if addr_spec is None and text.rstrip().endswith("."):
        # "ada@example.com." names the same mailbox (a fully-qualified domain).
        addr_spec = _parse_single(text.rstrip()[:-1])
    return addr_spec


def _is_lazy(value: Any) -> bool:
    from django.utils.functional import Promise

    return isinstance(value, Promise)


# A plain ``dot-atom@dot-atom`` in ASCII (RFC 5322 atext): the header parser would
# return it unchanged, with one mailbox and no defects. Matching it first skips that
# parser (about 0.2 ms an address), the bulk of the wrapper's cost on a large batch.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_PLAIN_ADDR_SPEC = re.compile(_PLAIN)
_PLAIN_BATCH = re.compile(rf"{_PLAIN}(?:\n{_PLAIN})*")
# The forms ``_fast_parse`` trusts: a plain address alone, in angle brackets, or after
# a display name of plain ASCII words (no quotes, comments, dots or encoded words).
_NAME = r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"
_FAST_FORM = re.compile(rf"({_PLAIN})|(?:{_NAME} )?<({_PLAIN})>")


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
        defects = parsed.all_defects  # raises AttributeError on "a@[" (a stdlib bug)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError, AttributeError):
        return None
    # Non-ASCII local parts are valid with SMTPUTF8 (Django 6.1 accepts them too).
    if any(not isinstance(d, email_errors.NonASCIILocalPartDefect) for d in defects):
        return None
    mailboxes = parsed.all_mailboxes
    # Exactly one mailbox, and nothing the parser skipped: "x@b.com, y@c.com" is two.
    if len(mailboxes) != 1 or len(parsed.addresses) != 1:
        return None
    mailbox = mailboxes[0]
    if not mailbox.local_part or not mailbox.domain:
        return None
    return str(mailbox.addr_spec)


def why_no_key(text: str) -> str:
    """Say, for a person, why ``text`` has no ``canonical_key`` (used by the admin form)."""
    if not text.strip():
        return "Enter an email address."
    if not _encodable(text) or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "It contains a control character or an invalid (unpaired) code point."
    if len(text) > 4 * MAX_KEY_LENGTH or len(normalize_email(text)) > MAX_KEY_LENGTH:
        return f"It is longer than {MAX_KEY_LENGTH} characters, so it is no deliverable address."
    mailboxes = parse_address_header(text)
    if len(mailboxes) > 1 or (any(sep in text for sep in ",;") and "@" in text):
        return "It holds several addresses (or separators): enter exactly one address."
    if "@" not in text:
        return "It has no @domain part: enter a whole address, like name@example.com."
    return "It is not exactly one valid address (check quotes, brackets and dots)."
