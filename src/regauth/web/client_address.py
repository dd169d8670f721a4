"""The client's address: the TCP peer, or a proxy header when the peer is a trusted proxy.

Forwarding headers are honoured only from configured proxies; a chain in ``X-Forwarded-For``
or ``Forwarded`` is walked from the right, skipping trusted proxies, so a client cannot pick
its own address by sending the header itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from regauth.authz.acl import client_address
from regauth.authz.base import IpAddress
from regauth.config import IpNetwork, parse_ip_pattern

__all__ = ["ClientAddressResolver"]

_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)\]?(?::\d+)?"?', re.IGNORECASE)


class ClientAddressResolver:
    def __init__(self, proxy_headers: Sequence[str], trusted_proxies: Sequence[str]) -> None:
        self._headers = tuple(h.lower() for h in proxy_headers)
        self._trusted: tuple[IpNetwork, ...] = tuple(parse_ip_pattern(p) for p in trusted_proxies)

    @property
    def headers(self) -> tuple[str, ...]:
        """The proxy headers consulted, lower-case."""
        return self._headers

    def _is_trusted(self, address: IpAddress | None) -> bool:
        return address is not None and any(address in net for net in self._trusted)

    def _from_chain(self, items: list[str]) -> IpAddress | None:
        addresses = [client_address(item) for item in items]
        if not addresses or any(a is None for a in addresses):
            return None
        for address in reversed(addresses):
            if not self._is_trusted(address):
                return address
        return addresses[0]

    def resolve(self, peer: str | None, headers: Mapping[str, str]) -> IpAddress | None:
        address = client_address(peer)
        if not self._headers or not self._is_trusted(address):
            return address
        for header in self._headers:
            value = headers.get(header)
            if not value:
                continue
            found: IpAddress | None
            if header == "x-forwarded-for":
                found = self._from_chain([p.strip() for p in value.split(",") if p.strip()])
            elif header == "forwarded":
                found = self._from_chain(_FORWARDED_FOR.findall(value))
            else:
                found = client_address(value)
            if found is not None:
                return found
        return address
