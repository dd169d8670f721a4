"""One HTTP exchange with a provider, bounded in time and size, failures as exceptions.

Every call to an identity provider goes through :func:`exchange`, so a provider that is down,
slow or answers garbage becomes one :class:`ProviderUnavailable` with a message that says which
provider, which request and what went wrong, and never includes the request's secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from regauth.oidc.errors import ProviderUnavailable

__all__ = ["MAX_RESPONSE_BYTES", "Answer", "exchange"]

#: no discovery document, key set or token response is anywhere near this
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: the JSON body, or None when the body is not JSON
    body: Any
    headers: httpx.Headers

    def object(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    what: str,
    timeout: float,
    **kwargs: Any,
) -> Answer:
    """Send one request; return status and JSON body. 5xx, timeouts and network errors raise
    :class:`ProviderUnavailable`; 4xx answers are returned for the caller to interpret."""
    headers = {"accept": "application/json", **kwargs.pop("headers", {})}
    try:
        async with http.stream(
            method, url, headers=headers, timeout=timeout, follow_redirects=False, **kwargs
        ) as response:
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ProviderUnavailable(
                        f"{provider}: {what} answered more than {MAX_RESPONSE_BYTES} bytes"
                    )
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise ProviderUnavailable(
            f"{provider}: {what} did not answer within {timeout:g} s ({_origin(url)})"
        ) from None
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        detail = str(exc).split("\n", 1)[0][:200]
        raise ProviderUnavailable(
            f"{provider}: cannot reach {what} at {_origin(url)}: {reason}"
            + (f" ({detail})" if detail else "")
        ) from None
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{provider}: {what} answered HTTP {response.status_code}")
    content = b"".join(chunks)
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = None
    return Answer(response.status_code, body, response.headers)


def _origin(url: str) -> str:
    """The URL without query (which may hold a token) and fragment."""
    return url.split("?", 1)[0].split("#", 1)[0]
