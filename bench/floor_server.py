"""Serve the floor handler (``bench/floor_app.py``) under uvicorn.

    python -m bench.floor_server --port 5101 --workers 2                 # uvicorn as shipped
    python -m bench.floor_server --port 5101 --workers 2 --paired-writes # regauth's protocol

The first is the floor of issue 5: the least a Python token endpoint does on stock uvicorn
(httptools, uvloop). The second runs the same handler on regauth's HTTP protocol (uvicorn's,
with each response sent in one write), so that regauth's own cost per request shows apart
from what its serving layer saves.
"""

from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--paired-writes", action="store_true")
    args = parser.parse_args()
    http: object = "httptools"
    if args.paired_writes:
        from regauth.web.http_protocol import HttpProtocol

        http = HttpProtocol
    uvicorn.run(
        "bench.floor_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http=http,  # type: ignore[arg-type]
        ws="none",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
