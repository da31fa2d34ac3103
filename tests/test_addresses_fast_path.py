"""The plain-address fast path of recipient parsing gives exactly the full parser's answer."""

from __future__ import annotations

from email.headerregistry import AddressHeader

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_meisa.suppression.addresses import _PLAIN_ADDR_SPEC, _parse_single

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
atoms = st.text(alphabet=ATEXT, min_size=1, max_size=6)
dot_atoms = st.lists(atoms, min_size=1, max_size=3).map(".".join)
plain = st.builds(lambda local, domain: f"{local}@{domain}", dot_atoms, dot_atoms)


def full_parser(text: str) -> str | None:
    """What the header parser alone makes of ``text`` (one clean mailbox, or None)."""
    parsed = AddressHeader.value_parser(text)
    if parsed.all_defects or len(parsed.all_mailboxes) != 1 or len(parsed.addresses) != 1:
        return None
    return str(parsed.all_mailboxes[0].addr_spec)


@given(plain | st.emails())
@settings(suppress_health_check=[HealthCheck.too_slow])  # st.emails() is slow under load
def test_fast_path_agrees_with_the_header_parser(address):
    if _PLAIN_ADDR_SPEC.fullmatch(address):
        assert _parse_single(address) == address == full_parser(address)


@pytest.mark.parametrize(
    "text",
    [
        "a@b,c@d",
        "a@b, c@d",
        "a b@c",
        "a..b@c",
        ".a@b",
        "a.@b",
        "a@b.",
        "a@.b",
        "Name <a@b.c>",
        '"a b"@c.d',
        "a@[127.0.0.1]",
        "é@b.c",
        "a@bé.c",
        "a@b.c\n",
        "a@b.c (comment)",
    ],
)
def test_anything_but_a_plain_address_takes_the_full_parser(text):
    assert _PLAIN_ADDR_SPEC.fullmatch(text) is None
