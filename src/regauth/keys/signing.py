"""A key ready to sign: its material, both key IDs, and the protected header of its tokens.

The registry trusts a token when its ``x5c`` chain ends at a certificate in its
``rootcertbundle`` (2.x and 3.x), when its ``kid`` is the libtrust ID of a bundle key (2.x), or
when its ``kid`` is the RFC 7638 thumbprint of a bundle or JWKS key (3.x). Which ``kid`` a token
carries and whether it carries ``x5c`` is configuration (``token.kid``, ``token.x5c``), the same
for every key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from regauth.keys.material import KeyMaterial, PrivateKey, public_jwk
from regauth.protocol.jws import JwsSigner

__all__ = ["SigningKey", "signing_key"]


def b64_der(cert: x509.Certificate) -> str:
    # x5c uses standard base64 (RFC 7515 section 4.1.6), not the URL-safe alphabet
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    algorithm: str
    #: leaf first, as the x5c header wants it
    chain: tuple[x509.Certificate, ...]
    libtrust_kid: str
    thumbprint_kid: str
    #: the ``kid`` its tokens carry: one of the two above
    kid: str
    signer: JwsSigner

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWKS entry, with the ``kid`` tokens carry and its chain."""
        jwk: dict[str, Any] = public_jwk(self.private_key)
        jwk.update(
            kid=self.kid,
            use="sig",
            alg=self.algorithm,
            x5c=[b64_der(cert) for cert in self.chain],
        )
        return jwk

    def bundle_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)


def signing_key(material: KeyMaterial, *, kid_style: str, x5c: bool) -> SigningKey:
    """``material`` with a signer whose header carries ``kid`` (``libtrust`` or
    ``thumbprint``) and, with ``x5c``, the certificate chain."""
    kid = material.libtrust_kid if kid_style == "libtrust" else material.thumbprint
    header: dict[str, Any] = {"kid": kid}
    if x5c:
        header["x5c"] = [b64_der(cert) for cert in material.chain]
    return SigningKey(
        private_key=material.private_key,
        algorithm=material.algorithm,
        chain=material.chain,
        libtrust_kid=material.libtrust_kid,
        thumbprint_kid=material.thumbprint,
        kid=kid,
        signer=JwsSigner(material.private_key, material.algorithm, header),
    )
