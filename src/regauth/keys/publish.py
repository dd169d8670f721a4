"""What the registry is given to trust: a certificate bundle (``rootcertbundle``, 2.x and 3.x)
and a JWKS document (registry 3's ``jwks`` option, and ``GET /.well-known/jwks.json``).

Both list every published key (the one signing now, keys added for the next rotation, retired
keys whose tokens may still be valid), so a registry that reads them at start trusts every
token regauth may hand out until it reads them again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regauth.keys.files import write_public
from regauth.keys.signing import SigningKey

__all__ = ["BUNDLE_FILE", "JWKS_FILE", "bundle_pem", "jwks_document", "write_trust_files"]

BUNDLE_FILE = "bundle.pem"
JWKS_FILE = "jwks.json"


def jwks_document(keys: Sequence[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def bundle_pem(keys: Sequence[SigningKey]) -> bytes:
    """Every key's certificate chain, one after the other."""
    return b"".join(key.bundle_pem() for key in keys)


def write_trust_files(keys: Sequence[SigningKey], out_dir: Path) -> tuple[Path, Path]:
    """Write ``bundle.pem`` and ``jwks.json`` into ``out_dir`` (each replaced atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle, jwks = out_dir / BUNDLE_FILE, out_dir / JWKS_FILE
    write_public(bundle, bundle_pem(keys))
    write_public(jwks, json.dumps(jwks_document(keys), indent=2).encode() + b"\n")
    return bundle, jwks
