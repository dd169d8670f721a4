"""Where regauth is, read from the registry itself: ``GET /v2/`` answers 401 with
``WWW-Authenticate: Bearer realm="https://auth.example.com/auth",service="registry"``; regauth's
base address is the realm without its last path part (``/auth``, ``/token`` or Keycloak's
``/auth/realms/R/protocol/docker-v2/auth``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from regauth.credential_helper.hosts import Registry

__all__ = ["DiscoveryError", "TokenServer", "discover"]

_KEYCLOAK = re.compile(r"/auth/realms/[^/]+/protocol/docker-v2/auth$")


class DiscoveryError(Exception):
    """The registry does not point at a token server this helper can use."""


@dataclass(frozen=True)
class TokenServer:
    base_url: str
    service: str | None


def _challenge_params(text: str) -> dict[str, str]:
    """``key="value"`` pairs of a challenge, read in one pass (a regular expression here
    rescans every word on hostile input; this is linear in the header's length)."""
    params: dict[str, str] = {}
    position, length = 0, len(text)
    while position < length:
        equals = text.find('="', position)
        if equals < 0:
            break
        start = equals
        while start > position and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        closing = text.find('"', equals + 2)
        if closing < 0:
            break
        if start < equals:
            params.setdefault(text[start:equals], text[equals + 2 : closing])
        position = closing + 1
    return params


def parse_challenge(header: str) -> TokenServer:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise DiscoveryError(
            f"the registry asks for {scheme or 'no'} authentication, not a token server"
        )
    params = _challenge_params(rest)
    realm = params.get("realm", "")
    if not realm.startswith(("https://", "http://")):
        raise DiscoveryError("the registry's challenge names no realm URL")
    base = _KEYCLOAK.sub("", realm) if _KEYCLOAK.search(realm) else realm.rsplit("/", 1)[0]
    return TokenServer(base.rstrip("/"), params.get("service"))


def discover(
    registry: Registry, *, timeout: float = 10.0, verify: bool | str = True
) -> TokenServer:
    try:
        answer = httpx.get(f"{registry.url}/v2/", timeout=timeout, verify=verify)
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"cannot reach {registry.url}/v2/: {exc}") from None
    if answer.status_code != 401 or "www-authenticate" not in answer.headers:
        raise DiscoveryError(
            f"{registry.url}/v2/ answered {answer.status_code} without a login challenge: "
            "is it a registry with token authentication?"
        )
    return parse_challenge(answer.headers["www-authenticate"])
