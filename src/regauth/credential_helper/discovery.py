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

_PARAM = re.compile(r'(\w+)="([^"]*)"')
_KEYCLOAK = re.compile(r"/auth/realms/[^/]+/protocol/docker-v2/auth$")


class DiscoveryError(Exception):
    """The registry does not point at a token server this helper can use."""


@dataclass(frozen=True)
class TokenServer:
    base_url: str
    service: str | None


def parse_challenge(header: str) -> TokenServer:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise DiscoveryError(
            f"the registry asks for {scheme or 'no'} authentication, not a token server"
        )
    params = dict(_PARAM.findall(rest))
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
