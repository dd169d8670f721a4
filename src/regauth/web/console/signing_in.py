"""Starting and ending a console session: the one place a session cookie is made or cleared.

Used by the password sign-in form (:mod:`regauth.web.console.pages.signin`) and by the single
sign-on callback (:mod:`regauth.web.login.app`), so both give the same cookie.
"""

from __future__ import annotations

from regauth.accounts import SessionStart
from regauth.web.console.context import Console
from regauth.web.console.security import cookie_header

__all__ = ["clear_session_cookie", "open_session", "safe_next"]


async def open_session(console: Console, start: SessionStart) -> str:
    """Start a session; the ``Set-Cookie`` value that hands it to the browser."""
    settings = console.config.console
    secret, _ = await console.run(
        console.accounts.start_console_session,
        start,
        absolute_lifetime=settings.absolute_lifetime,
        max_per_user=settings.max_sessions_per_user,
    )
    return cookie_header(
        console.cookies.session,
        secret,
        secure=console.cookies.secure,
        max_age=int(settings.absolute_lifetime.total_seconds()),
    )


def clear_session_cookie(console: Console) -> str:
    return cookie_header(console.cookies.session, "", secure=console.cookies.secure, max_age=0)


def safe_next(console: Console, target: str | None) -> str:
    """Where to go after signing in: a path of this console, never another site."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 for c in target)
        or len(target) > 2000
    ):
        return console.path("/")
    if console.base and not (target == console.base or target.startswith(console.base + "/")):
        return console.path("/")
    return target
