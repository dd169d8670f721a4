"""GitHub (and GitHub Enterprise Server): OAuth 2.0 plus the REST API, not OpenID Connect.

* Login: ``/login/oauth/authorize`` with ``state`` and PKCE S256 (GitHub has no ``nonce``: no
  ID token), the code exchanged at ``/login/oauth/access_token`` (GitHub answers errors with
  HTTP 200 and an ``error`` field).
* The user is ``GET /user`` (``login`` is the user name); the groups are the user's teams,
  ``GET /user/teams``, named ``ORG/TEAM-SLUG``. ``github_organization`` requires an active
  membership (``GET /user/memberships/orgs/ORG``, needs the ``read:org`` scope) and
  ``github_teams`` one of those teams in it.
* Access tokens as passwords: GitHub's "check a token" API (``POST
  /applications/CLIENT_ID/token`` with the app's credentials) says whether the token is valid
  and issued to this OAuth app; a token of another app is not accepted.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from regauth.oidc.claims import ExternalIdentity, map_identity
from regauth.oidc.errors import (
    IdentityRejected,
    ProviderRefused,
    ProviderUnavailable,
    TokenRejected,
)
from regauth.oidc.fetch import Answer, exchange
from regauth.oidc.jwks import looks_like_jwt
from regauth.oidc.presets import ProviderSettings
from regauth.oidc.provider import VerifiedToken

__all__ = ["GitHubProvider"]

#: the next page in a Link header; ``[^<>]`` ends each try at the next ``<`` (linear search)
_NEXT = re.compile(r'<([^<>]+)>\s*;\s*rel="next"')
_API_HEADERS = {
    "accept": "application/vnd.github+json",
    "x-github-api-version": "2022-11-28",
    "user-agent": "regauth",
}
MAX_TEAM_PAGES = 10


class GitHubProvider:
    def __init__(
        self, settings: ProviderSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._api = settings.github_api or "https://api.github.com"

    @property
    def settings(self) -> ProviderSettings:
        return self._settings

    @property
    def name(self) -> str:
        return self._settings.name

    async def _api_get(self, http: httpx.AsyncClient, path: str, token: str, what: str) -> Answer:
        url = path if path.startswith(("https://", "http://")) else self._api + path
        return await exchange(
            http,
            "GET",
            url,
            provider=self.name,
            what=what,
            timeout=self._settings.timeout,
            headers={**_API_HEADERS, "authorization": f"Bearer {token}"},
        )

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
        del http, nonce  # no discovery, and no ID token to carry a nonce
        query = urlencode(
            {
                "client_id": self._settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self._settings.scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
                "allow_signup": "false",
            }
        )
        return f"{self._settings.issuer}/login/oauth/authorize?{query}"

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
        del nonce, issuer  # OAuth 2.0 only: no ID token, no RFC 9207 iss
        answer = await exchange(
            http,
            "POST",
            f"{self._settings.issuer}/login/oauth/access_token",
            provider=self.name,
            what="the token endpoint",
            timeout=self._settings.timeout,
            data={
                "client_id": self._settings.client_id,
                "client_secret": self._settings.client_secret.reveal(),
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        body = answer.object()
        token = body.get("access_token")
        if answer.status == 200 and isinstance(token, str):
            return await self.identity(http, token)
        error = body.get("error")
        if isinstance(error, str):
            # GitHub says bad_verification_code where OAuth2 says invalid_grant
            code_error = "invalid_grant" if error == "bad_verification_code" else error[:60]
            raise ProviderRefused(f"{self.name}: GitHub refused the code: {error[:60]}", code_error)
        raise ProviderUnavailable(
            f"{self.name}: unusable answer from GitHub (HTTP {answer.status})"
        )

    async def _teams(self, http: httpx.AsyncClient, token: str) -> list[str]:
        teams: list[str] = []
        url: str | None = "/user/teams?per_page=100"
        for _ in range(MAX_TEAM_PAGES):
            if url is None:
                break
            answer = await self._api_get(http, url, token, "GitHub's team list")
            if answer.status != 200 or not isinstance(answer.body, list):
                raise ProviderUnavailable(
                    f"{self.name}: GitHub's team list answered HTTP {answer.status}"
                )
            for team in answer.body:
                if isinstance(team, dict) and isinstance(team.get("slug"), str):
                    organization = team.get("organization")
                    login = organization.get("login") if isinstance(organization, dict) else None
                    if isinstance(login, str):
                        teams.append(f"{login}/{team['slug']}")
            found = _NEXT.search(answer.headers.get("link", ""))
            url = found.group(1) if found else None
        return teams

    async def _check_organization(self, http: httpx.AsyncClient, token: str) -> None:
        organization = self._settings.github_organization
        if organization is None:
            return
        answer = await self._api_get(
            http,
            f"/user/memberships/orgs/{quote(organization, safe='')}",
            token,
            "GitHub's organisation membership",
        )
        if answer.status in (403, 404) or (
            answer.status == 200 and answer.object().get("state") != "active"
        ):
            raise IdentityRejected(
                f"{self.name}: the user is not an active member of the GitHub organisation "
                f"{organization!r} (or regauth's OAuth app is not approved there)"
            )
        if answer.status != 200:
            raise ProviderUnavailable(
                f"{self.name}: GitHub's organisation membership answered HTTP {answer.status}"
            )

    async def identity(self, http: httpx.AsyncClient, token: str) -> ExternalIdentity:
        """Who the token belongs to, with teams, after the organisation and team checks."""
        answer = await self._api_get(http, "/user", token, "GitHub's user API")
        if answer.status == 401:
            raise TokenRejected("GitHub does not accept the token")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise ProviderUnavailable(
                f"{self.name}: GitHub's user API answered HTTP {answer.status}"
            )
        user: dict[str, Any] = answer.body
        await self._check_organization(http, token)
        teams = await self._teams(http, token)
        organization = (self._settings.github_organization or "").lower()
        if self._settings.github_teams:
            mine = {t.split("/", 1)[1] for t in teams if t.split("/", 1)[0].lower() == organization}
            if not mine & self._settings.github_teams:
                raise IdentityRejected(
                    f"{self.name}: the user is in none of the teams "
                    f"{', '.join(sorted(self._settings.github_teams))} of {organization!r}"
                )
        claims = {
            "login": user.get("login"),
            "id": user.get("id"),
            "sub": str(user.get("id", "")),
            "email": user.get("email"),
        }
        return map_identity(self._settings, claims, groups=teams)

    # ------------------------------------------------------------------ access tokens

    async def verify_access_token(
        self, http: httpx.AsyncClient, token: str
    ) -> VerifiedToken | None:
        if looks_like_jwt(token) or not self._settings.introspection:
            return None
        answer = await exchange(
            http,
            "POST",
            f"{self._api}/applications/{quote(self._settings.client_id, safe='')}/token",
            provider=self.name,
            what="GitHub's token check",
            timeout=self._settings.timeout,
            headers=_API_HEADERS,
            json={"access_token": token},
            auth=httpx.BasicAuth(self._settings.client_id, self._settings.client_secret.reveal()),
        )
        if answer.status in (404, 422):
            return None  # not a token of this OAuth app
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise ProviderUnavailable(
                f"{self.name}: GitHub's token check answered HTTP {answer.status} "
                "(are client_id and client_secret right?)"
            )
        expires_at = _epoch(answer.body.get("expires_at"))
        if expires_at is not None and expires_at <= self._clock():
            raise TokenRejected("the access token has expired")
        identity = await self.identity(http, token)
        owner = answer.body.get("user")
        if isinstance(owner, dict) and str(owner.get("id")) != identity.subject:
            raise TokenRejected("GitHub's token check names another user")
        return VerifiedToken(identity, expires_at, revocable=True)


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
