"""LDAP string syntax: values escaped into filters (RFC 4515) and DNs (RFC 4514), and a group's
name read back from its DN.

Pure functions over strings; ldap3's escaping and DN parser underneath, nothing else.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from string import hexdigits

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 0.6 deprecates (tagMap, typeMap); harmless, and
    # only at import time
    warnings.filterwarnings(
        "ignore", message=r"(tagMap|typeMap) is deprecated", category=DeprecationWarning
    )
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn, parse_dn

__all__ = ["group_filter", "group_name_from_dn", "user_dn", "user_filter"]

_PLACEHOLDER = re.compile(r"\{(username|dn)\}")


def _substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{username}`` / ``{dn}`` in one pass, so a value is never substituted again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def user_filter(template: str, username: str) -> str:
    """The user search filter with ``{username}`` escaped for a filter (RFC 4515)."""
    return _substitute(template, {"username": escape_filter_chars(username)})


def user_dn(template: str, username: str) -> str:
    """The DN to bind as with ``{username}`` escaped as an RDN value (RFC 4514)."""
    # ldap3's escape_rdn writes NUL as backslash + NUL, which RFC 4514 spells \00, and
    # fails on an empty value
    escaped = escape_rdn(username).replace("\\\x00", "\\00") if username else ""
    return _substitute(template, {"username": escaped})


def group_filter(template: str, dn: str, username: str) -> str:
    """The group search filter with ``{dn}`` and ``{username}`` escaped for a filter."""
    return _substitute(
        template, {"dn": escape_filter_chars(dn), "username": escape_filter_chars(username)}
    )


def _unescape_dn_value(value: str) -> str | None:
    """An RDN value as written in a DN (``Dev\\, Ops``, ``caf\\c3\\a9``) → its text."""
    if value.startswith("#"):  # a BER-encoded value: not a name we can use
        return None
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in hexdigits for c in pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += char.encode()
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def group_name_from_dn(dn: str, attribute: str) -> str | None:
    """The ``attribute`` value of the DN's first RDN (``cn=devs,ou=groups,...`` → ``devs``)."""
    try:
        components = parse_dn(dn)
    except LDAPInvalidDnError:
        return None
    for name, value, separator in components:
        if name.lower() == attribute.lower():
            return _unescape_dn_value(value)
        if separator != "+":  # the end of the first RDN
            break
    return None
