"""uvicorn's HTTP/1.1 protocol (httptools), with each response sent in one piece through
:class:`regauth.web.paired_writes.PairedWrites`. Everything else is uvicorn's own protocol.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from regauth.web.paired_writes import PairedWrites

__all__ = ["HttpProtocol", "PairedWrites"]


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`PairedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(PairedWrites(transport, self.loop))
