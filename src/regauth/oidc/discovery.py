"""OpenID Connect Discovery 1.0 (and RFC 8414): a provider's endpoints and capabilities.

:func:`parse_metadata` is pure: it checks a document against the configured issuer (section
4.3: the ``issuer`` in the document must be the one asked for, or an attacker-controlled
document could redirect everything) and that the endpoints regauth needs are absolute URLs.
:func:`fetch_metadata` adds the one HTTP request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from regauth.oidc.errors import ProviderUnavailable
from regauth.oidc.fetch import exchange

__all__ = [
    "DiscoveryCheck",
    "DiscoveryError",
    "ProviderMetadata",
    "WrongDiscoveryAnswer",
    "check_discovery",
    "discovery_url",
    "fetch_metadata",
    "parse_metadata",
]

_URL = re.compile(r"https?://[^\s#]+")


class DiscoveryError(ValueError):
    """The discovery document is unusable; the message says why."""


class WrongDiscoveryAnswer(ProviderUnavailable):
    """The provider answered, but not with a usable discovery document for this issuer: a
    wrong issuer URL rather than a provider that is down."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    #: exactly as the document says (the ``iss`` of its tokens)
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    introspection_endpoint: str | None = None
    revocation_endpoint: str | None = None
    token_endpoint_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    introspection_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    id_token_algorithms: tuple[str, ...] = ("RS256",)
    code_challenge_methods: tuple[str, ...] = ()
    #: RFC 9207: the provider adds ``iss`` to the authorization response
    iss_parameter_supported: bool = False

    def client_auth_method(self, *, introspection: bool = False) -> str:
        """``client_secret_basic`` unless the provider only takes ``client_secret_post``."""
        methods = (
            self.introspection_auth_methods if introspection else self.token_endpoint_auth_methods
        )
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            return "client_secret_post"
        return "client_secret_basic"


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _url(document: dict[str, Any], name: str, *, required: bool, https: bool) -> str | None:
    value = document.get(name)
    if value is None:
        if required:
            raise DiscoveryError(f"the discovery document has no {name}")
        return None
    if not isinstance(value, str) or not _URL.fullmatch(value):
        raise DiscoveryError(f"{name} is not an http(s) URL")
    if https and not value.startswith("https://"):
        raise DiscoveryError(f"{name} must be https:// like the issuer")
    return value


def _strings(document: dict[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryError(f"{name} is not a list of strings")
    return tuple(value)


def parse_metadata(document: Any, expected_issuer: str) -> ProviderMetadata:
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    issuer = document.get("issuer")
    if not isinstance(issuer, str):
        raise DiscoveryError("the discovery document has no issuer")
    # the configuration drops a trailing slash; some providers' issuers end with one
    if issuer.rstrip("/") != expected_issuer.rstrip("/"):
        raise DiscoveryError(
            f"the document is for issuer {issuer[:200]!r}, not the configured {expected_issuer!r}"
        )
    https = issuer.startswith("https://")
    token_methods = _strings(
        document, "token_endpoint_auth_methods_supported", ("client_secret_basic",)
    )
    authorization = _url(document, "authorization_endpoint", required=True, https=https)
    token = _url(document, "token_endpoint", required=True, https=https)
    if authorization is None or token is None:  # pragma: no cover - required=True raised
        raise DiscoveryError("the discovery document lacks an endpoint")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=authorization,
        token_endpoint=token,
        jwks_uri=_url(document, "jwks_uri", required=False, https=https),
        userinfo_endpoint=_url(document, "userinfo_endpoint", required=False, https=https),
        introspection_endpoint=_url(
            document, "introspection_endpoint", required=False, https=https
        ),
        revocation_endpoint=_url(document, "revocation_endpoint", required=False, https=https),
        token_endpoint_auth_methods=token_methods,
        introspection_auth_methods=_strings(
            document, "introspection_endpoint_auth_methods_supported", token_methods
        ),
        id_token_algorithms=_strings(document, "id_token_signing_alg_values_supported", ("RS256",)),
        code_challenge_methods=_strings(document, "code_challenge_methods_supported", ()),
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )


async def fetch_metadata(
    http: httpx.AsyncClient, issuer: str, *, provider: str, timeout: float
) -> ProviderMetadata:
    url = discovery_url(issuer)
    answer = await exchange(
        http, "GET", url, provider=provider, what="the discovery document", timeout=timeout
    )
    if answer.status != 200:
        raise WrongDiscoveryAnswer(
            f"{provider}: no discovery document at {url} (HTTP {answer.status}); "
            "check the issuer URL"
        )
    try:
        return parse_metadata(answer.body, issuer)
    except DiscoveryError as exc:
        raise WrongDiscoveryAnswer(
            f"{provider}: unusable discovery document at {url}: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class DiscoveryCheck:
    """The outcome of fetching a provider's discovery document once, at start-up."""

    provider: str
    url: str
    #: None when the document is usable; otherwise one line that names the provider
    problem: str | None = None
    #: False when the provider did not answer (or answered 5xx): it may only be down for now.
    #: True with a problem means it answered, wrongly: a configuration mistake.
    reachable: bool = True


async def check_discovery(
    http: httpx.AsyncClient, issuer: str, *, provider: str, timeout: float
) -> DiscoveryCheck:
    url = discovery_url(issuer)
    try:
        await fetch_metadata(http, issuer, provider=provider, timeout=timeout)
    except WrongDiscoveryAnswer as exc:
        return DiscoveryCheck(provider, url, str(exc), reachable=True)
    except ProviderUnavailable as exc:
        return DiscoveryCheck(provider, url, str(exc), reachable=False)
    return DiscoveryCheck(provider, url)
