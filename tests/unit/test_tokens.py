"""Key IDs against fixed vectors, JWS output verified by PyJWT, claim types the registry
demands."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import jwt
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from regauth.keys import generate_key_pair, load_signing_key, public_jwk
from regauth.protocol.claims import (
    AccessEntry,
    ClaimsTemplate,
    build_claims,
    rfc3339,
    token_response,
    token_response_json,
)
from regauth.protocol.jws import JwsSigner, b64url
from regauth.protocol.keyid import jwk_thumbprint, libtrust_key_id

DATA = Path(__file__).parent.parent / "data"

# Cross-checked once against a second implementation, the openssl command line:
#   openssl pkey -in fixed-es256.pem -pubout -outform DER | openssl dgst -sha256 -binary \
#     | head -c 30 | base32 | tr -d = | sed 's/.\{4\}/&:/g; s/:$//'
FIXED_LIBTRUST_KID = "F4RV:OOYO:FOWV:CF6Y:4WZW:OHJA:KLML:ORR5:2U4A:RVS6:MC6P:HR7R"


def fixed_key() -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((DATA / "fixed-es256.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_libtrust_key_id_fixed_vector() -> None:
    spki = (
        fixed_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    kid = libtrust_key_id(spki)
    assert kid == FIXED_LIBTRUST_KID
    assert len(kid) == 59 and kid.count(":") == 11 and kid.upper() == kid


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 section 3.1
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_thumbprint_uses_only_required_members() -> None:
    jwk = public_jwk(fixed_key())
    with_extras = {**jwk, "kid": "x", "use": "sig", "alg": "ES256"}
    assert jwk_thumbprint(jwk) == jwk_thumbprint(with_extras)


def sample_claims() -> dict[str, object]:
    return build_claims(
        issuer="regauth",
        subject="alice",
        audience="registry",
        access=[AccessEntry("repository", "alice/app", ("pull", "push"))],
        issued_at=1_795_599_955,
        expires_in=300,
        jwt_id="abc",
    )


def test_claim_types_are_what_registry_2_8_parses() -> None:
    claims = sample_claims()
    assert isinstance(claims["aud"], str)
    for name in ("exp", "nbf", "iat"):
        assert type(claims[name]) is int
    assert claims["exp"] == 1_795_599_955 + 300
    assert claims["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]
    # serialized exactly as integers, never 1795599955.0
    signer = JwsSigner(fixed_key(), "ES256", {"kid": "k"})
    payload = signer.sign(claims).split(".")[1]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert '"exp":1795600255' in text
    assert '"aud":"registry"' in text


def test_es256_signature_verifies_with_pyjwt_and_is_raw_r_s() -> None:
    key = fixed_key()
    signer = JwsSigner(key, "ES256", {"kid": FIXED_LIBTRUST_KID})
    token = signer.sign(sample_claims())
    header = jwt.get_unverified_header(token)
    assert header == {"typ": "JWT", "alg": "ES256", "kid": FIXED_LIBTRUST_KID}
    signature = token.split(".")[2]
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    decoded = jwt.decode(
        token,
        key.public_key(),
        algorithms=["ES256"],
        audience="registry",
        issuer="regauth",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded["sub"] == "alice"


def test_rs256_signature_verifies_with_pyjwt() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = JwsSigner(key, "RS256", {"kid": "r"}).sign(sample_claims())
    decoded = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience="registry",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded["iss"] == "regauth"


def test_signer_refuses_mismatched_keys() -> None:
    with pytest.raises(ValueError, match="P-256"):
        JwsSigner(ec.generate_private_key(ec.SECP384R1()), "ES256", {})
    with pytest.raises(ValueError, match="RSA"):
        JwsSigner(fixed_key(), "RS256", {})


@pytest.mark.parametrize(("algorithm", "style"), [("ES256", "libtrust"), ("RS256", "thumbprint")])
def test_generated_key_header_has_kid_and_x5c_leaf_first(
    tmp_path: Path, algorithm: str, style: str
) -> None:
    key_path, cert_path = generate_key_pair(tmp_path, algorithm)
    assert (key_path.stat().st_mode & 0o777) == 0o600
    signing = load_signing_key(
        key_path=key_path, cert_path=cert_path, algorithm=algorithm, kid_style=style, x5c=True
    )
    header = jwt.get_unverified_header(signing.signer.sign(sample_claims()))
    assert header["alg"] == algorithm
    assert header["kid"] == (
        signing.libtrust_kid if style == "libtrust" else signing.thumbprint_kid
    )
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0], validate=True))
    assert leaf == signing.chain[0]
    jwk = signing.jwk()
    assert jwk["kid"] == header["kid"]
    assert jwk_thumbprint(jwk) == signing.thumbprint_kid
    # the JWKS key verifies the token
    verifier = jwt.PyJWK(jwk).key
    jwt.decode(
        signing.signer.sign(sample_claims()),
        verifier,
        algorithms=[algorithm],
        audience="registry",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )


def test_x5c_can_be_switched_off(tmp_path: Path) -> None:
    key_path, cert_path = generate_key_pair(tmp_path, "ES256")
    signing = load_signing_key(
        key_path=key_path, cert_path=cert_path, algorithm="ES256", kid_style="libtrust", x5c=False
    )
    assert "x5c" not in signing.signer.header


def test_token_response_shape() -> None:
    body = token_response("t.o.k", expires_in=300, issued_at=0)
    assert body == {
        "token": "t.o.k",
        "access_token": "t.o.k",
        "expires_in": 300,
        "issued_at": "1970-01-01T00:00:00Z",
    }
    assert "refresh_token" not in body
    assert rfc3339(1_795_599_955) == "2026-11-25T09:45:55Z"
    json.dumps(body)


@given(
    subject=st.text(max_size=40),
    audience=st.text(min_size=1, max_size=40),
    issuer=st.text(min_size=1, max_size=40),
    names=st.lists(st.text(min_size=1, max_size=30), max_size=4),
    issued_at=st.integers(min_value=0, max_value=2**40),
    expires_in=st.integers(min_value=1, max_value=86_400),
    jwt_id=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=30),
)
def test_claims_template_renders_the_claims_byte_for_byte(
    subject: str,
    audience: str,
    issuer: str,
    names: list[str],
    issued_at: int,
    expires_in: int,
    jwt_id: str,
) -> None:
    access = [AccessEntry("repository", name, ("pull", "push")) for name in names]
    template = ClaimsTemplate(
        issuer=issuer, subject=subject, audience=audience, access=access, expires_in=expires_in
    )
    expected = build_claims(
        issuer=issuer,
        subject=subject,
        audience=audience,
        access=access,
        issued_at=issued_at,
        expires_in=expires_in,
        jwt_id=jwt_id,
    )
    rendered = template.render(issued_at, jwt_id)
    assert rendered == orjson.dumps(expected)
    assert json.loads(rendered) == expected


def test_claims_template_refuses_an_id_json_would_have_to_escape() -> None:
    template = ClaimsTemplate(
        issuer="regauth", subject="alice", audience="registry", access=[], expires_in=300
    )
    for bad in ('a"b', "a\\b", "", "ä"):
        with pytest.raises(ValueError, match="JWT id"):
            template.render(0, bad)


def test_a_template_token_verifies_like_a_claims_token() -> None:
    key = fixed_key()
    signer = JwsSigner(key, "ES256", {"kid": "k"})
    template = ClaimsTemplate(
        issuer="regauth",
        subject="alice",
        audience="registry",
        access=[AccessEntry("repository", "alice/app", ("pull", "push"))],
        expires_in=300,
    )
    token = signer.sign_payload(template.render(1_795_599_955, "abc"))
    assert token.split(".")[:2] == signer.sign(sample_claims()).split(".")[:2]
    decoded = jwt.decode(
        token,
        key.public_key(),
        algorithms=["ES256"],
        audience="registry",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded == sample_claims()


@pytest.mark.parametrize("issued_at", [0, 1_795_599_955])
def test_token_response_json_is_the_token_response(issued_at: int) -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_"
    assert token_response_json(token, expires_in=300, issued_at=issued_at) == orjson.dumps(
        token_response(token, expires_in=300, issued_at=issued_at)
    )


def test_b64url_is_unpadded_url_safe_base64() -> None:
    for size in range(0, 70):
        data = bytes((i * 37 + size) % 256 for i in range(size))
        assert b64url(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
