"""The fast forms of recipient parsing give exactly the full parser's addr-spec and key.

``_fast_parse`` answers for plain ``local@domain``, ``<local@domain>`` and ``Name
<local@domain>``; anything else must come back None (the full parser then decides).
Every input is checked against the header parser itself, never against the fast path.
"""

from __future__ import annotations

import string
from email import errors as email_errors
from email.headerregistry import AddressHeader

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_meisa.suppression.addresses import (
    _fast_parse,
    _key_of,
    _parse_text,
    canonical_key,
    canonical_keys,
    normalize_many,
    parse_address_header,
    parse_recipient,
)

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
atoms = st.text(st.sampled_from(ATEXT), min_size=1, max_size=8)
dot_atoms = st.lists(atoms, min_size=1, max_size=3).map(".".join)
plain = st.builds(lambda local, domain: f"{local}@{domain}", dot_atoms, dot_atoms)
words = st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=8)
names = st.lists(words, min_size=1, max_size=3).map(" ".join)
fast_forms = (
    plain
    | plain.map(lambda address: f"<{address}>")
    | st.builds(lambda name, address: f"{name} <{address}>", names, plain)
)
# What a hostile or merely unusual recipient adds: NUL, a lone surrogate, separators of
# a second address, quotes, comments, encoded words, IDNA, whitespace, controls.
HOSTILE = [
    "\x00", "\udc80", "\ud800", ",", ";", " ", "\t", "\r", "\n", '"', "\\", "(", ")",
    "<", ">", "@", ".", ":", "[", "]", "=?utf-8?q?", "?=", "é", "ü", "\u0130", "ß",
    "xn--", "\u200b", "\ufeff", "\x7f", "K",
]  # fmt: skip
hostile_bits = st.sampled_from(HOSTILE) | st.text(max_size=3)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A fast form with a hostile bit inserted somewhere (near misses of the fast path)."""
    text = draw(fast_forms)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(hostile_bits) + text[at:]


several = st.lists(fast_forms, min_size=2, max_size=3).flatmap(
    lambda parts: st.sampled_from([", ", ",", "; ", " "]).map(lambda sep: sep.join(parts))
)
encoded = st.builds(lambda address: f"=?utf-8?q?Ada?= <{address}>", plain)
quoted = st.builds(lambda local, domain: f'"{local} x"@{domain}', dot_atoms, dot_atoms)
commented = st.builds(lambda address: f"{address} (comment)", plain)
idna = st.builds(lambda local: f"{local}@bücher.example", dot_atoms)
cased = fast_forms.map(str.upper) | fast_forms.map(str.swapcase)
inputs = (
    fast_forms
    | mutated()
    | several
    | encoded
    | quoted
    | commented
    | idna
    | cased
    | st.text(max_size=40)
    | st.emails()
)


def header_parser(text: str) -> str | None:
    """The addr-spec of ``text`` by the header parser alone (one clean mailbox), or None."""
    if not text or any(ch in text for ch in "\r\n\x00"):
        return None
    try:
        parsed = AddressHeader.value_parser(text)
    except (email_errors.HeaderParseError, ValueError, IndexError, TypeError):
        return None
    if parsed.all_defects or len(parsed.all_mailboxes) != 1 or len(parsed.addresses) != 1:
        return None
    mailbox = parsed.all_mailboxes[0]
    return str(mailbox.addr_spec) if mailbox.local_part and mailbox.domain else None


def full_key(text: str) -> str | None:
    """canonical_key's answer by the full path alone (no fast form)."""
    addr_spec = _parse_text(text)
    return None if addr_spec is None else _key_of(addr_spec)


@given(inputs)
@example("Ada Lovelace <Ada@Example.COM>")
@example("a@b.c, d@e.f")
@example("Name <a@b.c>, d@e.f")
@example("a@b.c\x00")
@example("\udc80@b.c")
@example('"a"@b.c')
@example("a@b.c (x)")
@example("=?utf-8?q?x?= <a@b.c>")
@example("a@xn--bcher-kva.example")
@example("A@B.C")
@example(" a@b.c ")
@example("Name  <a@b.c>")
@example("<a@b.c")
@example("a@b.c>")
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_with_the_full_parser(text):
    fast = _fast_parse(text)
    if fast is not None:
        assert fast[0] == header_parser(text)
        assert fast[1] == full_key(text)
    assert canonical_key(text) == full_key(text)
    recipient = parse_recipient(text)
    assert recipient.key == full_key(text)
    assert recipient.addr_spec == (_parse_text(text) if recipient.key else None)


@given(st.lists(inputs, max_size=20))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bulk_keys_equal_one_by_one(batch):
    expected = [full_key(text) for text in batch]
    assert canonical_keys(batch) == expected
    assert canonical_keys(iter(batch)) == expected
    assert normalize_many(batch) == [key or "" for key in expected]


@pytest.mark.parametrize(
    "text",
    [
        "a@b.c, d@e.f",
        "Name <a@b.c>, d@e.f",
        "a@b.c d@e.f",
        '"Quoted" <a@b.c>',
        "Dotted.Name <a@b.c>",
        "=?utf-8?q?x?= <a@b.c>",
        "a@b.c (comment)",
        '"a b"@c.d',
        "a@bücher.example",
        "é@b.c",
        "a@b.c.",
        " a@b.c",
        "Name  <a@b.c>",
        "<a@b.c",
        "a@b.c>",
        "a@[127.0.0.1]",
        "a\x00@b.c",
    ],
)
def test_anything_but_a_fast_form_takes_the_full_parser(text):
    assert _fast_parse(text) is None


def test_non_strings_take_the_full_parser():
    assert canonical_keys([("Ada", "Ada@Example.com"), "b@c.d", 42]) == [
        "ada@example.com",
        "b@c.d",
        None,
    ]


@pytest.mark.parametrize("text", ["0@[", "a@[", "a@[b"])
def test_a_value_the_header_parser_chokes_on_has_no_key(text):
    # The standard library raises AttributeError reading these values' defects.
    assert canonical_key(text) is None
    assert parse_recipient(text).key is None
    assert canonical_keys([text, "b@c.d"]) == [None, "b@c.d"]
    assert [r.key for r in parse_address_header(f"b@c.d, {text}")] == [None]
