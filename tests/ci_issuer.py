"""A small real OpenID issuer standing in for a CI system (GitHub Actions, GitLab CI), for tests.

It serves, over HTTP on a free 127.0.0.1 port, what a CI issuer publishes: the discovery
document (``issuer``, ``jwks_uri``, algorithms; no authorization endpoint, as GitHub's has none)
and the key set, and it mints ID tokens with CI-style claims signed by a key the test made.
``rotate()`` replaces the key (a new ``kid``); ``foreign_key()`` makes a key the issuer does
not publish (another issuer's key). ``jwks_fetches`` counts requests for the key set.

The node oidc-provider (tests/oidc) cannot mint ID tokens with arbitrary CI claims, choose
each token's lifetime or sign with a key it does not publish; this can. Standard library,
joserfc and nothing else.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

__all__ = ["CiIssuer", "github_claims"]

Key = RSAKey | ECKey


def new_key(algorithm: str = "RS256") -> Key:
    parameters = {"kid": secrets.token_hex(6), "use": "sig", "alg": algorithm}
    if algorithm == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters)
    return RSAKey.generate_key(2048, parameters=parameters)


def github_claims(repository: str = "acme/api", ref: str = "refs/heads/main") -> dict[str, Any]:
    """Claims as GitHub Actions puts them in its ID tokens."""
    return {
        "sub": f"repo:{repository}:ref:{ref}",
        "repository": repository,
        "repository_owner": repository.split("/", maxsplit=1)[0],
        "ref": ref,
        "sha": secrets.token_hex(20),
        "workflow": "release",
        "run_id": str(secrets.randbelow(10**10)),
        "run_attempt": "1",
        "actor": "octocat",
        "event_name": "push",
    }


class CiIssuer:
    def __init__(self, algorithm: str = "RS256") -> None:
        self.key: Key = new_key(algorithm)
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.issuer,
                        "jwks_uri": issuer.issuer + "/.well-known/jwks",
                        "subject_types_supported": ["public"],
                        "response_types_supported": ["id_token"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }
                elif self.path == "/.well-known/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": [issuer.key.as_dict(private=False)]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CiIssuer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> None:
        self.key = new_key(self.key.get("alg") or "RS256")

    def mint(
        self,
        audience: str | list[str],
        claims: dict[str, Any] | None = None,
        *,
        lifetime: float = 300,
        key: Key | None = None,
        issuer: str | None = None,
        now: float | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        """A signed ID token for ``audience`` with ``claims`` (GitHub-style by default)."""
        key = key or self.key
        moment = int(now if now is not None else time.time())
        payload = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "iat": moment,
            "nbf": moment,
            "exp": int(moment + lifetime),
            "jti": secrets.token_hex(8),
            **(claims if claims is not None else github_claims()),
        }
        algorithm = key.get("alg") or "RS256"
        return jwt.encode({"alg": algorithm, "kid": key.kid, **(header or {})}, payload, key)
