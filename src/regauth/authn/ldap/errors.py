"""How the LDAP backend fails: a configuration that cannot work, a directory that cannot answer.

:class:`LdapConfigError` stops startup with one line naming the key. Everything that goes wrong
while talking to the directory becomes :class:`~regauth.protocol.errors.BackendUnavailable`
(built by :func:`unavailable`), which the chain reports and never turns into a grant.
"""

from __future__ import annotations

from regauth.protocol.errors import BackendUnavailable

__all__ = ["ConnectionRefused", "LdapConfigError", "describe", "unavailable"]


class LdapConfigError(ValueError):
    """The ``ldap:`` section cannot work (an unreadable CA file, no base for group searches)."""


class ConnectionRefused(Exception):
    """A step of opening a connection was refused (StartTLS, the service account's bind)."""


def unavailable(reason: str) -> BackendUnavailable:
    """The error for the client ("try again later"), with ``reason`` kept for the log only."""
    return BackendUnavailable(
        "the LDAP directory is unavailable; try again later", log_reason=f"ldap: {reason}"
    )


def _unwrapped(text: str) -> str | None:
    """The inside of ``('...',)`` or ``("...",)``, or None (a regular expression with a
    backreference took quadratic time on long text)."""
    if len(text) >= 5 and text[0] == "(" and text[1] in "'\"" and text.endswith(text[1] + ",)"):
        return text[2:-3]
    return None


def describe(exc: BaseException) -> str:
    """The error's text; ldap3 re-raises errors wrapped in tuples (``"('error',)"``)."""
    text = str(exc).strip() or type(exc).__name__
    for _ in range(8):  # ldap3 wraps once or twice; a bound keeps odd text linear
        inner = _unwrapped(text)
        if inner is None:
            break
        text = inner
    return text[:300]
