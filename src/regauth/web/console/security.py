"""What keeps the console's pages safe in a browser: headers, cookies and CSRF tokens.

* Every answer carries a Content-Security-Policy that allows only this origin's own scripts,
  styles and form targets (no ``unsafe-inline``), forbids framing, ``nosniff``, and
  ``Cache-Control: no-store`` (pages show personal data, sometimes a secret shown once).
* The session cookie is ``HttpOnly`` and ``SameSite=Lax``; behind HTTPS it is ``Secure`` and
  ``__Host-`` prefixed (so no other host or path can set or shadow it).
* CSRF: every state-changing form carries a synchronizer token, an HMAC of the session (or,
  for the sign-in form, of a random pre-session cookie) under a key derived from the shared
  server secret, so every worker and instance can check it without storing anything. A POST
  without a valid token is refused with 403 before anything changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PAGE_HEADERS",
    "CookieNames",
    "CsrfTokens",
    "cookie_header",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

PAGE_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "pragma": "no-cache",
}


class CookieNames:
    """The console's cookie names: ``__Host-`` prefixed when served over HTTPS."""

    def __init__(self, secure: bool) -> None:
        prefix = "__Host-" if secure else ""
        self.secure = secure
        self.session = f"{prefix}regauth_session"
        self.presession = f"{prefix}regauth_csrf"


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, Path=/ (``__Host-`` needs it)."""
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class CsrfTokens:
    """Synchronizer tokens bound to a session (or a pre-session cookie), stateless to check."""

    def __init__(self, server_secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"regauth console csrf v1",
        ).derive(server_secret)

    def for_session(self, session_token_hash: str) -> str:
        return self._sign("session:" + session_token_hash)

    def for_presession(self, cookie_value: str) -> str:
        return self._sign("presession:" + cookie_value)

    def check_session(self, session_token_hash: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(
            self.for_session(session_token_hash).encode(), token.encode("utf-8", "replace")
        )

    def check_presession(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or token is None:
            return False
        return hmac.compare_digest(
            self.for_presession(cookie_value).encode(), token.encode("utf-8", "replace")
        )

    @staticmethod
    def new_presession() -> str:
        return secrets.token_urlsafe(24)

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()
