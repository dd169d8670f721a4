"""An OpenID Connect provider: discovery, the authorization code flow, tokens as passwords.

* Discovery (``ISSUER/.well-known/openid-configuration``) on first use, kept for a day (and
  kept longer while the provider cannot be reached); its keys through :class:`KeySetCache`.
* Login: an authorization request with ``state``, ``nonce`` and PKCE S256; the code exchange
  authenticates the client as discovery says (``client_secret_basic`` unless only
  ``client_secret_post`` is offered); the ID token is verified (:mod:`regauth.oidc.id_token`);
  claims missing from it (user name, groups) are asked from UserInfo, whose ``sub`` must match.
* Access tokens: a JWT is verified with the provider's keys (:mod:`regauth.oidc.access_token`),
  an opaque token is introspected (RFC 7662); when neither carries the user name claim, the
  token is presented to UserInfo, which names its user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import structlog

from regauth.oidc.access_token import check_introspection, check_jwt_access_token
from regauth.oidc.claims import ExternalIdentity, claim, map_identity
from regauth.oidc.discovery import ProviderMetadata, fetch_metadata
from regauth.oidc.errors import ProviderRefused, ProviderUnavailable, TokenRejected
from regauth.oidc.fetch import exchange
from regauth.oidc.id_token import DEFAULT_LEEWAY, IdTokenCheck, check_id_token_claims
from regauth.oidc.jwks import ALGORITHMS, KeySetCache, looks_like_jwt, peek, verify_signature
from regauth.oidc.presets import ProviderSettings
from regauth.oidc.provider import VerifiedToken

__all__ = ["OpenIdProvider"]

log = structlog.get_logger("regauth.oidc")

#: seconds a discovery document is used before it is fetched again
DISCOVERY_MAX_AGE = 86400.0


class OpenIdProvider:
    def __init__(
        self,
        settings: ProviderSettings,
        *,
        clock: Callable[[], float] = time.time,
        leeway: int = DEFAULT_LEEWAY,
        jwks_min_refresh_interval: float = 30.0,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._leeway = leeway
        self._jwks_min_refresh_interval = jwks_min_refresh_interval
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = float("-inf")
        self._keys: KeySetCache | None = None
        self._keys_uri: str | None = None
        self._lock = asyncio.Lock()
        self._warned_no_introspection = False

    @property
    def settings(self) -> ProviderSettings:
        return self._settings

    @property
    def key_cache(self) -> KeySetCache | None:
        return self._keys

    # ------------------------------------------------------------------ discovery

    async def metadata(self, http: httpx.AsyncClient) -> ProviderMetadata:
        async with self._lock:
            if self._metadata is None or self._clock() - self._metadata_at >= DISCOVERY_MAX_AGE:
                try:
                    metadata = await fetch_metadata(
                        http,
                        self._settings.issuer,
                        provider=self._settings.name,
                        timeout=self._settings.timeout,
                    )
                except ProviderUnavailable:
                    if self._metadata is None:
                        raise
                    log.warning("keeping the previous discovery document", provider=self.name)
                    # try again in a minute rather than in a day
                    self._metadata_at = self._clock() - DISCOVERY_MAX_AGE + 60
                else:
                    self._metadata, self._metadata_at = metadata, self._clock()
                    if metadata.jwks_uri is not None and (
                        self._keys is None or self._keys_uri != metadata.jwks_uri
                    ):
                        self._keys = KeySetCache(
                            metadata.jwks_uri,
                            provider=self.name,
                            timeout=self._settings.timeout,
                            clock=self._clock,
                            min_refresh_interval=self._jwks_min_refresh_interval,
                        )
                        self._keys_uri = metadata.jwks_uri
            return self._metadata

    @property
    def name(self) -> str:
        return self._settings.name

    def _client_auth(
        self, method: str, form: dict[str, str]
    ) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        if method == "client_secret_post":
            secret = self._settings.client_secret.reveal()
            return {**form, "client_id": self._settings.client_id, "client_secret": secret}, None
        # RFC 6749 section 2.3.1: both parts form-urlencoded before Basic encoding
        return form, httpx.BasicAuth(
            quote_plus(self._settings.client_id),
            quote_plus(self._settings.client_secret.reveal()),
        )

    async def _verify_jws(
        self, http: httpx.AsyncClient, token: str, algorithms: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        header, _ = peek(token)
        if self._keys is None:
            raise ProviderUnavailable(f"{self.name}: the discovery document has no jwks_uri")
        algorithm = str(header.get("alg"))
        if algorithm not in algorithms:
            raise TokenRejected(f"signature algorithm {algorithm[:20]!r} is not accepted")
        kid = header.get("kid")
        keys = await self._keys.keys_for(http, kid if isinstance(kid, str) else None, algorithm)
        if not keys:
            raise TokenRejected(
                "the token is signed with a key the provider does not publish", definite=False
            )
        return header, verify_signature(token, keys, algorithms)

    # ------------------------------------------------------------------ login

    async def authorization_url(
        self,
        http: httpx.AsyncClient,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
    ) -> str:
        metadata = await self.metadata(http)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self._settings.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = metadata.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def complete_login(
        self,
        http: httpx.AsyncClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
        issuer: str | None,
    ) -> ExternalIdentity:
        metadata = await self.metadata(http)
        # RFC 9207: the response says which provider it comes from (against mix-up attacks)
        if issuer is not None and issuer != metadata.issuer:
            raise TokenRejected("the authorization response comes from another issuer (iss)")
        if issuer is None and metadata.iss_parameter_supported:
            raise TokenRejected("the authorization response lacks the provider's iss parameter")
        form, auth = self._client_auth(
            metadata.client_auth_method(),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        answer = await exchange(
            http,
            "POST",
            metadata.token_endpoint,
            provider=self.name,
            what="the token endpoint",
            timeout=self._settings.timeout,
            data=form,
            auth=auth,
        )
        tokens = answer.object()
        if answer.status != 200 or not isinstance(tokens.get("access_token"), str):
            error = tokens.get("error")
            if isinstance(error, str):
                raise ProviderRefused(
                    f"{self.name}: the token endpoint refused the code: {error[:60]}", error[:60]
                )
            raise ProviderUnavailable(
                f"{self.name}: unusable answer from the token endpoint (HTTP {answer.status})"
            )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise TokenRejected("the provider returned no ID token (is 'openid' in scopes?)")
        claims = await self.verify_id_token(http, id_token, nonce=nonce)
        claims = await self._complete_claims(
            http, metadata, claims, tokens["access_token"], groups=True
        )
        return map_identity(self._settings, claims)

    async def verify_id_token(
        self, http: httpx.AsyncClient, token: str, *, nonce: str | None
    ) -> dict[str, Any]:
        metadata = await self.metadata(http)
        algorithms = tuple(a for a in metadata.id_token_algorithms if a in ALGORITHMS)
        _, claims = await self._verify_jws(http, token, algorithms or ("RS256",))
        check = IdTokenCheck(metadata.issuer, self._settings.client_id, nonce, self._leeway)
        check_id_token_claims(claims, check, int(self._clock()))
        return claims

    def _missing(self, claims: Mapping[str, Any], *, groups: bool) -> bool:
        wanted = [self._settings.username_claim]
        if groups and self._settings.groups_claim:
            wanted.append(self._settings.groups_claim)
        return any(claim(claims, name) is None for name in wanted)

    async def _complete_claims(
        self,
        http: httpx.AsyncClient,
        metadata: ProviderMetadata,
        claims: dict[str, Any],
        access_token: str,
        *,
        groups: bool = False,
    ) -> dict[str, Any]:
        """Ask UserInfo for claims the token lacks (the user name; at login, the groups too);
        its ``sub`` must be the token's."""
        if not self._missing(claims, groups=groups) or metadata.userinfo_endpoint is None:
            return claims
        info = await self._userinfo(http, metadata.userinfo_endpoint, access_token)
        if info is None:
            return claims
        if "sub" in claims and info.get("sub") != claims["sub"]:
            raise TokenRejected("UserInfo describes another user than the token (sub)")
        return {**info, **claims}

    async def _userinfo(
        self, http: httpx.AsyncClient, endpoint: str, access_token: str
    ) -> dict[str, Any] | None:
        answer = await exchange(
            http,
            "GET",
            endpoint,
            provider=self.name,
            what="UserInfo",
            timeout=self._settings.timeout,
            headers={"authorization": f"Bearer {access_token}"},
        )
        if answer.status in (400, 401, 403):
            return None
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise ProviderUnavailable(
                f"{self.name}: unusable UserInfo answer (HTTP {answer.status})"
            )
        return answer.body

    # ------------------------------------------------------------------ access tokens

    async def verify_access_token(
        self, http: httpx.AsyncClient, token: str
    ) -> VerifiedToken | None:
        if looks_like_jwt(token):
            return await self._verify_jwt(http, token)
        if not self._settings.introspection:
            return None
        return await self._introspect(http, token)

    async def _verify_jwt(self, http: httpx.AsyncClient, token: str) -> VerifiedToken | None:
        _, unverified = peek(token)
        if str(unverified.get("iss", "")).rstrip("/") != self._settings.issuer:
            return None  # another issuer's token
        metadata = await self.metadata(http)
        header, claims = await self._verify_jws(http, token, ALGORITHMS)
        check_jwt_access_token(
            header,
            claims,
            issuer=metadata.issuer,
            audience=self._settings.audience,
            now=int(self._clock()),
            leeway=self._leeway,
        )
        claims = await self._complete_claims(http, metadata, claims, token)
        if claim(claims, self._settings.username_claim) is None:
            raise TokenRejected(
                f"the access token carries no {self._settings.username_claim!r} claim and "
                "UserInfo does not accept it"
            )
        identity = map_identity(self._settings, claims)
        return VerifiedToken(identity, float(claims["exp"]), revocable=False)

    async def _introspect(self, http: httpx.AsyncClient, token: str) -> VerifiedToken | None:
        metadata = await self.metadata(http)
        endpoint = metadata.introspection_endpoint
        if endpoint is None:
            if not self._warned_no_introspection:
                log.warning("the provider publishes no introspection_endpoint", provider=self.name)
                self._warned_no_introspection = True
            return None
        form, auth = self._client_auth(
            metadata.client_auth_method(introspection=True),
            {"token": token, "token_type_hint": "access_token"},
        )
        answer = await exchange(
            http,
            "POST",
            endpoint,
            provider=self.name,
            what="the introspection endpoint",
            timeout=self._settings.timeout,
            data=form,
            auth=auth,
        )
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise ProviderUnavailable(
                f"{self.name}: the introspection endpoint answered HTTP {answer.status} "
                "(are client_id and client_secret right?)"
            )
        body: dict[str, Any] = answer.body
        if body.get("active") is not True:
            return None
        check_introspection(
            body,
            issuer=metadata.issuer,
            audience=self._settings.audience,
            client_id=self._settings.client_id,
            now=int(self._clock()),
        )
        claims = await self._complete_claims(http, metadata, body, token)
        if claim(claims, self._settings.username_claim) is None:
            raise TokenRejected(
                f"neither introspection nor UserInfo give the {self._settings.username_claim!r} "
                "claim"
            )
        identity = map_identity(self._settings, claims)
        exp = body.get("exp")
        return VerifiedToken(identity, float(exp) if exp is not None else None, revocable=True)
