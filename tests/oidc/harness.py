"""Run the real OpenID provider (npm ``oidc-provider`` v8 on Node 20) for tests, and drive it.

* :class:`OidcProvider` starts ``node provider.mjs`` on a free 127.0.0.1 port (installing
  ``node_modules`` with ``npm ci`` from the committed lock file when they are missing), waits
  until discovery answers, and stops it by its PID. ``restart(rotate_keys=True)`` brings it back
  on the same port with new signing keys (a key rotation).
* :func:`drive_login` plays the browser: follows the redirects of an authorization request,
  posts the devInteractions login form (any password) and the consent form, and returns the
  redirect back to the client (``code``, ``state``, ``iss`` in the query) without following it.
* :meth:`OidcProvider.tokens` runs a whole authorization-code flow with PKCE for a user (as a
  CLI would), optionally for a resource (RFC 8707: a JWT access token for that audience;
  without one the access token is opaque).

Only the standard library and httpx.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent
CLIENT_ID = "regauth"
CLIENT_SECRET = "regauth-test-client-secret"
OTHER_CLIENT_ID = "other-app"
OTHER_CLIENT_SECRET = "other-app-secret"
RESOURCE = "https://registry.test"
#: where the harness's own flows "return" to; never loaded, the code is read from the Location
HARNESS_REDIRECT = "http://127.0.0.1:9/harness/callback"

_INSTALL_LOCK = threading.Lock()


def ensure_node_modules() -> None:
    """``npm ci`` from the committed lock file, once, when ``node_modules`` is missing."""
    with _INSTALL_LOCK:
        if (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
            return
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise RuntimeError("node and npm (Node 20) are needed for the OpenID provider tests")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            check=True,
            capture_output=True,
            timeout=300,
        )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_signing_keys(label: str) -> dict[str, Any]:
    key = RSAKey.generate_key(
        2048, parameters={"kid": f"{label}-{secrets.token_hex(4)}", "use": "sig", "alg": "RS256"}
    )
    return {"keys": [key.as_dict(private=True)]}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Account:
    groups: list[str] = field(default_factory=list)
    email: str | None = None
    preferred_username: str | None = None
    email_verified: bool | None = None
    access_token_ttl: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class OidcProvider:
    """``node provider.mjs`` on 127.0.0.1; ``issuer`` is ``http://127.0.0.1:PORT``."""

    def __init__(
        self,
        workdir: Path,
        *,
        redirect_uris: list[str],
        accounts: dict[str, Account] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.redirect_uris = [*redirect_uris, HARNESS_REDIRECT]
        self.accounts = accounts or {}
        self.jwks = new_signing_keys("k1")
        self.process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"oidc-provider-{self.port}.log"

    # ------------------------------------------------------------------ process

    def settings(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "issuer": self.issuer,
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                },
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": OTHER_CLIENT_SECRET,
                    "redirect_uris": [HARNESS_REDIRECT],
                },
            ],
            "accounts": {name: a.as_dict() for name, a in self.accounts.items()},
            "resource": {"indicator": RESOURCE, "audience": RESOURCE},
            "jwks": self.jwks,
        }

    def start(self, timeout: float = 20.0) -> OidcProvider:
        ensure_node_modules()
        node = shutil.which("node")
        assert node is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self._log.open("ab")
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), json.dumps(self.settings())],
            cwd=HERE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited:\n{self.log_text()}")
            try:
                response = httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=1)
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"oidc-provider did not start:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, *, rotate_keys: bool = False) -> None:
        """Stop and start again on the same port (its sessions and tokens are forgotten)."""
        self.stop()
        if rotate_keys:
            self.jwks = new_signing_keys("k2")
        self.start()

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    def counts(self) -> dict[str, int]:
        return dict(httpx.get(self.issuer + "/__test/counts", timeout=5).json())

    def reset_counts(self) -> None:
        httpx.post(self.issuer + "/__test/counts", timeout=5)

    # ------------------------------------------------------------------ flows

    def tokens(
        self,
        username: str,
        *,
        resource: str | None = None,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        scope: str = "openid profile email groups",
    ) -> dict[str, Any]:
        """The token response of a whole code flow with PKCE, logged in as ``username``."""
        verifier, challenge = pkce_pair()
        params = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": HARNESS_REDIRECT,
            "scope": scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "login consent",
        }
        if resource is not None:
            params["resource"] = resource
        with httpx.Client(timeout=10) as browser:
            back = drive_login(
                browser, f"{self.issuer}/auth?{urlencode(params)}", username, HARNESS_REDIRECT
            )
        query = parse_qs(urlsplit(back).query)
        assert "code" in query, back
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": HARNESS_REDIRECT,
            "code_verifier": verifier,
        }
        if resource is not None:
            form["resource"] = resource
        response = httpx.post(
            self.issuer + "/token", data=form, auth=(client_id, client_secret), timeout=10
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def client_credentials(self, resource: str | None = None) -> str:
        form = {"grant_type": "client_credentials"}
        if resource is not None:
            form["resource"] = resource
        response = httpx.post(
            self.issuer + "/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def revoke(self, token: str) -> None:
        response = httpx.post(
            self.issuer + "/token/revocation",
            data={"token": token, "token_type_hint": "access_token"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def introspect(self, token: str) -> dict[str, Any]:
        response = httpx.post(
            self.issuer + "/token/introspection",
            data={"token": token},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        return dict(response.json())


# ---------------------------------------------------------------------- the "browser"

_FORM = re.compile(r"<form\b[^>]*\baction=\"([^\"]+)\"[^>]*>(.*?)</form>", re.S | re.I)
_HIDDEN = re.compile(
    r"<input\b[^>]*type=\"hidden\"[^>]*\bname=\"([^\"]+)\"[^>]*\bvalue=\"([^\"]*)\"", re.I
)


def _forms(page: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (html.unescape(action), {n: html.unescape(v) for n, v in _HIDDEN.findall(body)})
        for action, body in _FORM.findall(page)
    ]


def drive_login(browser: httpx.Client, url: str, username: str, stop_at: str) -> str:
    """Follow an authorization request through devInteractions; return the URL it sends the
    browser back to (the first redirect starting with ``stop_at``), without loading it."""
    method, data = "GET", None
    for _ in range(20):
        response = browser.request(method, url, data=data)
        if response.is_redirect:
            target = urljoin(url, response.headers["location"])
            if target.startswith(stop_at):
                return target
            method, data, url = "GET", None, target
            continue
        page = response.text
        if response.status_code != 200:
            raise AssertionError(f"provider answered {response.status_code}: {page[:500]}")
        forms = _forms(page)
        if not forms:
            raise AssertionError(f"no form on the provider's page: {page[:500]}")
        action, fields = forms[0]
        if fields.get("prompt") == "login":
            fields.update(login=username, password="any password")
        method, data, url = "POST", fields, urljoin(url, action)
    raise AssertionError("too many redirects in the login flow")


# ---------------------------------------------------------------------- regauth side

LOGIN_BASE = "http://regauth.test"


def provider_entry(provider: OidcProvider, name: str = "corp", **extra: Any) -> dict[str, Any]:
    """An ``oidc.providers[]`` entry for the test provider (the regauth client)."""
    return {
        "name": name,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "profile", "email", "groups"],
        **extra,
    }


def callback_uris(*names: str, base: str = LOGIN_BASE) -> list[str]:
    return [f"{base}/login/{name}/callback" for name in names]
