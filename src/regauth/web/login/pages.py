"""The login pages' HTML: ``string.Template`` files filled with escaped values.

The templates are ``regauth/web/templates/login/*.html``; :func:`render` escapes every value
that is not already :class:`Markup`, and :func:`page` wraps content in the layout. The page
builders below take plain values and return the bytes to send with :data:`HTML_HEADERS`
(``no-store``, no framing, a content security policy that allows no script).
"""

from __future__ import annotations

import html
import string
from collections.abc import Sequence
from functools import cache
from importlib import resources

from regauth.accounts import Created, TokenView
from regauth.oidc.claims import ExternalIdentity

__all__ = [
    "HTML_HEADERS",
    "Markup",
    "error_page",
    "page",
    "providers_page",
    "redirect_page",
    "render",
    "token_page",
]

HTML_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        b"form-action 'none'; base-uri 'none'",
    ),
]


class Markup(str):
    """HTML that is already escaped (built from escaped parts)."""

    __slots__ = ()


@cache
def _template(name: str) -> string.Template:
    source = resources.files("regauth.web") / "templates" / "login" / f"{name}.html"
    return string.Template(source.read_text(encoding="utf-8"))


def render(name: str, **values: str | Markup) -> Markup:
    """Fill a template; every value that is not :class:`Markup` is HTML-escaped."""
    escaped = {
        k: v if isinstance(v, Markup) else html.escape(v, quote=True) for k, v in values.items()
    }
    return Markup(_template(name).substitute(escaped))


def page(title: str, content: Markup) -> bytes:
    return render("layout", title=title, content=content).encode("utf-8")


def error_page(title: str, message: str, retry: str) -> bytes:
    """A failed login: what went wrong, and a link (``retry``) to start again."""
    return page(title, render("error", title=title, message=message, retry=retry))


def providers_page(links: Sequence[tuple[str, str]]) -> bytes:
    """``/login``: one link per provider, as (href, label) pairs; a note when there are none."""
    items = [render("provider_item", href=href, label=label) for href, label in links]
    if items:
        content = render("providers", items=Markup("\n".join(items)))
    else:
        content = render("no_providers")
    return page("Log in", content)


def redirect_page(url: str) -> bytes:
    """The body of the redirect to the provider, for browsers that do not follow it."""
    return page("Redirecting", Markup(f'<p><a href="{html.escape(url)}">Continue</a></p>'))


def token_page(
    identity: ExternalIdentity,
    created: Created[TokenView],
    *,
    provider: str,
    registry: str | None,
    login_url: str,
) -> bytes:
    """The new personal access token with ready-to-paste login commands.

    Without ``registry`` (``?registry=HOST`` on the login link) the commands say
    ``<registry>`` and a note tells how to get them filled in from ``login_url``.
    """
    expires = created.view.expires_at
    note = Markup("")
    if registry is None:
        note = render("registry_note", login_url=login_url)
    content = render(
        "token",
        username=identity.username,
        token=created.secret or "",  # a token always has one
        token_id=str(created.view.id),
        expires=f"{expires:%Y-%m-%d %H:%M} UTC" if expires is not None else "revoked",
        registry=registry or "<registry>",
        registry_note=note,
        provider=provider,
        groups=", ".join(identity.groups) or "none",
    )
    return page("Logged in", content)
