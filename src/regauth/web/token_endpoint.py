"""The token endpoint as a lean ASGI handler: translate HTTP to a TokenRequest and back."""

from __future__ import annotations

import time

import structlog

from regauth.events import TokenEventLog
from regauth.protocol.errors import (
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    ProtocolError,
)
from regauth.protocol.request import TokenRequest, parse_get, parse_post
from regauth.service import ClientInfo, TokenService
from regauth.web.client_address import ClientAddressResolver
from regauth.web.grant_memo import GrantMemo, RememberedGrant
from regauth.web.query_cache import QueryCache
from regauth.web.responses import JSON_HEADERS, Receive, Scope, Send, send_bytes, send_json

__all__ = ["MAX_BODY_BYTES", "TokenEndpoint"]

MAX_BODY_BYTES = 64 * 1024
log = structlog.get_logger("regauth.web")


class _Disconnected(Exception):
    pass


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read a request body, chunked or not, refusing more than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class TokenEndpoint:
    def __init__(
        self,
        service: TokenService,
        events: TokenEventLog,
        addresses: ClientAddressResolver,
        basic_realm: str,
        memo: GrantMemo | None = None,
    ) -> None:
        self._service = service
        self._events = events
        self._addresses = addresses
        self._memo = memo
        self._queries = QueryCache()
        # the only headers the endpoint reads: decoding every header a client sends costs more
        self._wanted_headers = {
            name.encode("latin-1"): name
            for name in ("authorization", "user-agent", "content-type", *addresses.headers)
        }
        escaped = basic_realm.replace("\\", "\\\\").replace('"', '\\"')
        self._challenge = (b"www-authenticate", f'Basic realm="{escaped}"'.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        wanted = self._wanted_headers
        headers: dict[str, str] = {}
        authorization = b""
        for raw_name, raw_value in scope["headers"]:
            name = wanted.get(raw_name)
            if name is not None:
                headers[name] = raw_value.decode("latin-1")
                if name == "authorization":
                    authorization = raw_value
        peer = scope.get("client")
        address = self._addresses.resolve(peer[0] if peer else None, headers)
        user_agent = headers.get("user-agent", "")[:256]
        method = scope["method"]
        oauth2 = method == "POST"
        request: TokenRequest | None = None
        client: ClientInfo | None = None
        try:
            memo_key = None
            generation = 0
            memo = self._memo
            if memo is not None and method == "GET":
                # a request seen before: sign a new token for the grant it got then
                service = self._service
                await service.catch_up()
                generation = service.generation
                memo_key = memo.key(authorization, scope["query_string"], address)
                remembered = memo.get(memo_key, generation)
                if remembered is not None:
                    await self._send_token(remembered, user_agent, started, send, reused=True)
                    return
            client = ClientInfo(address=address, user_agent=user_agent)
            if method == "GET":
                try:
                    query = scope["query_string"].decode("ascii")
                except UnicodeDecodeError:
                    raise InvalidRequest("malformed query string: not ASCII") from None
                request = parse_get(self._queries.parse(query), headers.get("authorization"))
            elif method == "POST":
                body = await read_body(receive)
                request = parse_post(body, headers.get("content-type"))
            else:
                raise MethodNotAllowed(f"method {method} not allowed: use GET or POST")
            grant = await self._service.decide(request, client)
            if (
                memo_key is not None
                and memo is not None
                and grant.reusable_for is not None
                and memo.admit(memo_key)
            ):
                remembered = memo.put(
                    memo_key,
                    self._service.claims_template(grant),
                    self._events.grant_event(request, grant, client),
                    reusable_for=grant.reusable_for,
                    generation=generation,
                )
                await self._send_token(remembered, user_agent, started, send, reused=False)
                return
            issued = await self._service.issue_for(grant, request)
        except ProtocolError as error:
            client = client or ClientInfo(address=address, user_agent=user_agent)
            self._events.failed(request, error, client, time.perf_counter() - started)
            await self._send_error(send, error, oauth2=oauth2)
            return
        except _Disconnected:
            return
        except Exception:
            log.exception("token request failed", client_ip=str(address))
            await send_json(
                send, 500, {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}
            )
            return
        self._events.issued(request, issued, client, time.perf_counter() - started)
        await send_json(send, 200, issued.body)

    async def _send_token(
        self,
        remembered: RememberedGrant,
        user_agent: str,
        started: float,
        send: Send,
        *,
        reused: bool,
    ) -> None:
        body = self._service.mint_response(remembered.claims)
        latency = time.perf_counter() - started
        self._events.issued_again(remembered.event, user_agent, latency, reused=reused)
        await send_bytes(send, 200, body, JSON_HEADERS)

    async def _send_error(self, send: Send, error: ProtocolError, *, oauth2: bool) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if error.challenge:
            headers.append(self._challenge)
        if isinstance(error, MethodNotAllowed):
            headers.append((b"allow", b"GET, POST"))
        if error.retry_after is not None:
            headers.append((b"retry-after", b"%d" % error.retry_after))
        body = error.oauth_body() if oauth2 else error.docker_body()
        await send_json(send, error.status, body, headers)
