"""A local stand-in for GitHub, GitLab and Google, to test regauth's presets.

The real services cannot be reached from the test machines, so this tiny Starlette app plays
them, routed by host name: ``github.com`` and ``api.github.com`` (OAuth 2.0 web flow, the
REST API's ``/user``, ``/user/teams``, ``/user/memberships/orgs/ORG`` and the "check a token"
API), ``gitlab.com`` and ``accounts.google.com`` (OpenID Connect: discovery, authorize,
token, JWKS, UserInfo). regauth reaches it through ``httpx.ASGITransport``, so the presets are
exercised with their real default URLs. It follows the public documentation of those APIs as
far as regauth uses them; it is NOT proof that the real services behave the same.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

GITHUB_HOSTS = ("github.com", "github.fake")
OIDC_HOSTS = ("gitlab.com", "accounts.google.com")


@dataclass
class FakeUser:
    login: str
    id: int
    email: str | None = None
    email_verified: bool = True
    #: GitHub: (organisation, team slug) pairs; GitLab: group paths
    teams: list[tuple[str, str]] = field(default_factory=list)
    orgs: dict[str, str] = field(default_factory=dict)  # org -> membership state
    groups: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    login: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    nonce: str | None
    host: str


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded body (without python-multipart, which regauth does not need)."""
    return {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeProviders:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "fake-1", "use": "sig", "alg": "RS256"}
        )
        self.users: dict[str, FakeUser] = {}
        self.next_login = ""
        self._codes: dict[str, _Pending] = {}
        self.tokens: dict[str, str] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.app = Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST"])]
        )

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    def add(self, user: FakeUser) -> FakeUser:
        self.users[user.login] = user
        return user

    def issue_token(self, login: str) -> str:
        token = "gho_" + secrets.token_urlsafe(27)
        self.tokens[token] = login
        return token

    # ------------------------------------------------------------------ routing

    async def _dispatch(self, request: Request) -> Response:
        host = request.url.hostname or ""
        path = "/" + request.path_params["path"]
        self.requests.append((host, request.method, path))
        if host in GITHUB_HOSTS:
            if path.startswith("/api/v3/"):
                return await self._github_api(request, path[len("/api/v3") :])
            return await self._github_web(request, path)
        if host == "api.github.com":
            return await self._github_api(request, path)
        if host in OIDC_HOSTS:
            return await self._oidc(request, host, path)
        return JSONResponse({"message": "unknown host"}, 404)

    def _authorize(self, request: Request, host: str) -> Response:
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_client"}, 400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Pending(
            login=self.next_login,
            client_id=self.client_id,
            redirect_uri=query["redirect_uri"],
            challenge=query.get("code_challenge"),
            nonce=query.get("nonce"),
            host=host,
        )
        back = {"code": code, "state": query.get("state", "")}
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(back)}", 302)

    def _redeem(self, form: Any) -> _Pending | None:
        pending = self._codes.pop(str(form.get("code")), None)
        if pending is None or pending.redirect_uri != form.get("redirect_uri"):
            return None
        if pending.challenge is not None and pending.challenge != _s256(
            str(form.get("code_verifier", ""))
        ):
            return None
        return pending

    # ------------------------------------------------------------------ GitHub

    async def _github_web(self, request: Request, path: str) -> Response:
        host = request.url.hostname or ""
        if path == "/login/oauth/authorize":
            return self._authorize(request, host)
        if path == "/login/oauth/access_token" and request.method == "POST":
            form = await _form(request)
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return JSONResponse({"error": "incorrect_client_credentials"})
            pending = self._redeem(form)
            if pending is None:  # GitHub answers errors with 200
                return JSONResponse({"error": "bad_verification_code"})
            token = self.issue_token(pending.login)
            return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "x"})
        return JSONResponse({"message": "Not Found"}, 404)

    def _bearer_user(self, request: Request) -> FakeUser | None:
        auth = request.headers.get("authorization", "")
        login = self.tokens.get(auth.removeprefix("Bearer ").removeprefix("token "))
        return self.users.get(login) if login else None

    async def _github_api(self, request: Request, path: str) -> Response:
        if path.startswith("/applications/") and path.endswith("/token"):
            auth = request.headers.get("authorization", "")
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            if auth != f"Basic {expected.decode()}":
                return JSONResponse({"message": "Requires authentication"}, 401)
            body = await request.json()
            login = self.tokens.get(body.get("access_token", ""))
            if login is None or path != f"/applications/{self.client_id}/token":
                return JSONResponse({"message": "Not Found"}, 404)
            user = self.users[login]
            return JSONResponse({"user": {"login": user.login, "id": user.id}, "expires_at": None})
        user = self._bearer_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, 401)
        if path == "/user":
            return JSONResponse({"login": user.login, "id": user.id, "email": user.email})
        if path == "/user/teams":
            return JSONResponse(
                [{"slug": slug, "organization": {"login": org}} for org, slug in user.teams]
            )
        if path.startswith("/user/memberships/orgs/"):
            org = path.rsplit("/", 1)[1]
            state = user.orgs.get(org)
            if state is None:
                return JSONResponse({"message": "Not Found"}, 404)
            return JSONResponse({"state": state, "organization": {"login": org}})
        return JSONResponse({"message": "Not Found"}, 404)

    # ------------------------------------------------------------------ GitLab, Google

    async def _oidc(self, request: Request, host: str, path: str) -> Response:
        base = f"https://{host}"
        if path == "/.well-known/openid-configuration":
            return JSONResponse(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks",
                    "userinfo_endpoint": f"{base}/userinfo",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    # the GitLab stand-in takes only client_secret_post, to test that path
                    "token_endpoint_auth_methods_supported": (
                        ["client_secret_post"]
                        if host == "gitlab.com"
                        else ["client_secret_basic", "client_secret_post"]
                    ),
                    "code_challenge_methods_supported": ["S256"],
                }
            )
        if path == "/authorize":
            return self._authorize(request, host)
        if path == "/jwks":
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})
        if path == "/token" and request.method == "POST":
            return await self._oidc_token(request, host, base)
        if path == "/userinfo":
            user = self._bearer_user(request)
            if user is None:
                return JSONResponse({"error": "invalid_token"}, 401)
            return JSONResponse(self._claims(user, host))
        return JSONResponse({"error": "not_found"}, 404)

    def _claims(self, user: FakeUser, host: str) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": str(user.id),
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.login,
        }
        if host == "gitlab.com":
            claims.update(preferred_username=user.login, nickname=user.login, groups=user.groups)
        return claims

    async def _oidc_token(self, request: Request, host: str, base: str) -> Response:
        form = await _form(request)
        if host == "gitlab.com":
            creds = (form.get("client_id"), form.get("client_secret"))
        else:
            auth = request.headers.get("authorization", "")
            decoded = base64.b64decode(auth.removeprefix("Basic ") or b"").decode()
            creds = tuple(decoded.split(":", 1)) if ":" in decoded else (None, None)
        if creds != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, 401)
        pending = self._redeem(form)
        if pending is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        user = self.users[pending.login]
        now = int(time.time())
        id_claims = {
            "iss": base,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": pending.nonce,
            **self._claims(user, host),
        }
        id_claims.pop("groups", None)  # GitLab puts groups in UserInfo, not the ID token
        id_token = jwt.encode({"alg": "RS256", "kid": "fake-1"}, id_claims, self.key)
        token = self.issue_token(user.login)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "id_token": id_token})
