"""The floor: the least a Python token endpoint can do per request.

Parse HTTP Basic credentials, compare them with a constant, sign one ES256 token over fixed
claims with ``cryptography``, answer JSON. No scope parsing, no ACL, no logging. regauth's rate
is reported as a fraction of this handler's rate measured in the same run.

    python -m bench.floor_server --port 5101 --workers 2
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

EXPECTED = base64.b64encode(b"bench:bench-password")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def create_app() -> Any:
    key = ec.generate_private_key(ec.SECP256R1())
    header = _b64(json.dumps({"typ": "JWT", "alg": "ES256", "kid": "floor"}).encode())

    async def app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
        if not authorization.startswith(b"Basic ") or not hmac.compare_digest(
            authorization[6:], EXPECTED
        ):
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        now = int(time.time())
        claims = {
            "iss": "floor",
            "sub": "bench",
            "aud": "registry",
            "exp": now + 300,
            "iat": now,
            "access": [],
        }
        signing_input = header + b"." + _b64(json.dumps(claims).encode())
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        token = signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        body = b'{"token":"' + token + b'","expires_in":300}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
