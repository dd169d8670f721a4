"""Protocol errors: each knows its HTTP status, Docker error code and OAuth2 error code.

    ProtocolError
    ├── InvalidRequest          400  INVALID_REQUEST / invalid_request
    │   ├── UnsupportedGrantType 400  UNSUPPORTED / unsupported_grant_type
    │   └── InvalidGrant        400  UNAUTHORIZED / invalid_grant
    ├── Unauthorized            401  UNAUTHORIZED / invalid_client  (+ Basic challenge)
    ├── MethodNotAllowed        405  UNSUPPORTED / invalid_request
    ├── PayloadTooLarge         413  INVALID_REQUEST / invalid_request
    ├── TooManyRequests         429  TOOMANYREQUESTS / temporarily_unavailable
    └── BackendUnavailable      503  UNAVAILABLE / temporarily_unavailable

The token endpoint renders an error in the Docker form (``{"errors": [...]}``) for GET and in
the OAuth2 form (``{"error": ..., "error_description": ...}``, RFC 6749 section 5.2) for POST.
Messages never contain secrets: callers build them from names and scopes only.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BackendUnavailable",
    "InvalidGrant",
    "InvalidRequest",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "ProtocolError",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedGrantType",
]


class ProtocolError(Exception):
    status: ClassVar[int] = 400
    docker_code: ClassVar[str] = "INVALID_REQUEST"
    oauth_error: ClassVar[str] = "invalid_request"
    #: whether the answer carries ``WWW-Authenticate: Basic realm=...``
    challenge: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        detail: Any = None,
        log_reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        #: what the server log may say beyond the client-facing message (never a secret)
        self.log_reason = log_reason
        #: seconds, sent as ``Retry-After`` (429 and 503 answers)
        self.retry_after = retry_after

    def docker_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.docker_code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

    def oauth_body(self) -> dict[str, Any]:
        return {"error": self.oauth_error, "error_description": self.message}


class InvalidRequest(ProtocolError):
    """The request is malformed: a bad scope, parameter, header or form."""


class UnsupportedGrantType(InvalidRequest):
    docker_code = "UNSUPPORTED"
    oauth_error = "unsupported_grant_type"


class InvalidGrant(InvalidRequest):
    """OAuth2 password or refresh grant with wrong credentials (400, so containerd falls back)."""

    docker_code = "UNAUTHORIZED"
    oauth_error = "invalid_grant"


class Unauthorized(ProtocolError):
    """Wrong credentials, or an anonymous request that was granted nothing."""

    status = 401
    docker_code = "UNAUTHORIZED"
    oauth_error = "invalid_client"
    challenge = True


class MethodNotAllowed(ProtocolError):
    status = 405
    docker_code = "UNSUPPORTED"


class PayloadTooLarge(ProtocolError):
    status = 413


class TooManyRequests(ProtocolError):
    status = 429
    docker_code = "TOOMANYREQUESTS"
    oauth_error = "temporarily_unavailable"


class BackendUnavailable(ProtocolError):
    """An identity or policy backend failed; nothing is granted."""

    status = 503
    docker_code = "UNAVAILABLE"
    oauth_error = "temporarily_unavailable"
