"""JWS / JWE bodies and HS256 JWT bearer tokens, checked against PyJWT and jwcrypto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from hookgate import keys
from hookgate.errors import (
    KeyFormatError,
    MalformedError,
    SignatureError,
    TimestampError,
    VerificationError,
)
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.jose import JweDecrypter, JweEncrypter, JwsSigner, JwsVerifier
from hookgate.schemes.jwt_bearer import JwtBearerSigner, JwtBearerVerifier, body_hash

# --- key material, generated once per module ---


def _pkcs8(k: Any) -> str:
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _spki(k: Any) -> str:
    return (
        k.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


_NATIVE = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec": ec.generate_private_key(ec.SECP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}
_OTHER_NATIVE = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec": ec.generate_private_key(ec.SECP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}
PRIV = {kind: _pkcs8(k) for kind, k in _NATIVE.items()}
PUB = {kind: _spki(k) for kind, k in _NATIVE.items()}
OTHER_PRIV = {kind: _pkcs8(k) for kind, k in _OTHER_NATIVE.items()}
OTHER_PUB = {kind: _spki(k) for kind, k in _OTHER_NATIVE.items()}
KID = {kind: keys.thumbprint_kid(keys.load_key(pem)) for kind, pem in PUB.items()}
ALG = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}
JWE_ALG = {"rsa": "RSA-OAEP-256", "ec": "ECDH-ES+A256KW"}
KINDS = sorted(PRIV)
JWE_KINDS = sorted(JWE_ALG)

BODY = b'{"type": "invoice.paid", "data": {"id": 42, "amount": 1999}}'
NOW = 1_700_000_000


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jc_key(pem: str) -> jc_jwk.JWK:
    return jc_jwk.JWK.from_pem(pem.encode("ascii"))


def sign_jws(kind: str, body: bytes = BODY, **kwargs: Any) -> bytes:
    return JwsSigner(PRIV[kind], **kwargs).sign(body, msg_id="msg_1", now=NOW).body


# JwsSigner signs the payload as it is, so these tokens carry no exp (test_claims.py covers the claims)
LAX = ClaimRules(require_exp=False)


def jws_verifier(*args: Any, **kwargs: Any) -> JwsVerifier:
    kwargs.setdefault("claims", LAX)
    return JwsVerifier(*args, **kwargs)


def jwe_decrypter(*args: Any, **kwargs: Any) -> JweDecrypter:
    """Unsigned JWEs allowed unless sender keys are given (refusing them by default is tested below)."""
    kwargs.setdefault("claims", LAX)
    if not kwargs.get("verify_keys") and not kwargs.get("verify_jwks"):
        kwargs.setdefault("require_signature", False)
    return JweDecrypter(*args, **kwargs)


# ============================== JWS ==============================


@pytest.mark.parametrize("kind", KINDS)
def test_jws_round_trip_with_pem(kind: str) -> None:
    signed = JwsSigner(PRIV[kind]).sign(BODY, msg_id="msg_1", now=NOW)
    assert signed.headers == {}
    assert signed.body.count(b".") == 2
    verified = jws_verifier([PUB[kind]]).verify(signed.body, {}, now=NOW)
    assert verified.payload == BODY
    assert verified.key_id == KID[kind]
    assert verified.claims["alg"] == ALG[kind]
    assert verified.claims["kid"] == KID[kind]
    assert verified.claims["typ"] == "JWT"


@pytest.mark.parametrize("kind", KINDS)
def test_jws_round_trip_with_jwks(kind: str) -> None:
    token = sign_jws(kind)
    doc = keys.jwks_document([keys.load_key(PRIV[k]) for k in KINDS])
    for form in (doc, json.dumps(doc), json.dumps(doc).encode()):
        verified = jws_verifier(jwks=[form]).verify(token, now=NOW)
        assert verified.payload == BODY
        assert verified.key_id == KID[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_jws_round_trip_with_key_objects(kind: str) -> None:
    token = JwsSigner(keys.load_key(PRIV[kind])).sign(BODY, msg_id="m", now=NOW).body
    verifier = jws_verifier([keys.with_kid(keys.load_key(PUB[kind]))])
    assert verifier.verify(token, now=NOW).payload == BODY


@pytest.mark.parametrize("kind", KINDS)
def test_our_jws_verifies_with_pyjwt(kind: str) -> None:
    token = sign_jws(kind)
    claims = pyjwt.decode(token, PUB[kind], algorithms=[ALG[kind]])
    assert claims == json.loads(BODY)
    header = pyjwt.get_unverified_header(token)
    assert header["kid"] == KID[kind]
    assert header["alg"] == ALG[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_our_jws_verifies_with_jwcrypto(kind: str) -> None:
    token = sign_jws(kind)
    obj = jc_jws.JWS()
    obj.deserialize(token.decode("ascii"), jc_key(PUB[kind]))
    assert obj.payload == BODY
    # a non-JSON body too
    token2 = sign_jws(kind, b"\x00\x01 raw bytes \xff")
    obj2 = jc_jws.JWS()
    obj2.deserialize(token2.decode("ascii"), jc_key(PUB[kind]))
    assert obj2.payload == b"\x00\x01 raw bytes \xff"


@pytest.mark.parametrize("kind", KINDS)
def test_pyjwt_token_verifies_with_ours(kind: str) -> None:
    claims = {"event": "ping", "n": 7}
    token = pyjwt.encode(claims, PRIV[kind], algorithm=ALG[kind], headers={"kid": KID[kind]})
    verified = jws_verifier([PUB[kind]]).verify(token.encode("ascii"), now=NOW)
    assert json.loads(verified.payload) == claims
    assert verified.key_id == KID[kind]
    # without a kid every key of the matching type is tried
    token_no_kid = pyjwt.encode(claims, PRIV[kind], algorithm=ALG[kind])
    verifier = jws_verifier([OTHER_PUB[kind], PUB[kind]])
    verified2 = verifier.verify(token_no_kid.encode("ascii"), now=NOW)
    assert json.loads(verified2.payload) == claims
    assert verified2.key_id == KID[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_jwcrypto_token_verifies_with_ours(kind: str) -> None:
    payload = b"jwcrypto payload \x00\x7f"
    obj = jc_jws.JWS(payload)
    obj.add_signature(
        jc_key(PRIV[kind]), alg=ALG[kind], protected=json.dumps({"alg": ALG[kind], "kid": KID[kind]})
    )
    token = obj.serialize(compact=True)
    verified = jws_verifier([PUB[kind]]).verify(token.encode("ascii"), now=NOW)
    assert verified.payload == payload
    assert verified.key_id == KID[kind]


def test_ed25519_rfc9864_alg_name() -> None:
    token = sign_jws("ed25519", alg="Ed25519")
    header = json.loads(base64.urlsafe_b64decode(token.split(b".")[0] + b"=="))
    assert header["alg"] == "Ed25519"
    verified = jws_verifier([PUB["ed25519"]]).verify(token, now=NOW)
    assert verified.payload == BODY
    assert verified.claims["alg"] == "Ed25519"
    # jwcrypto knows the RFC 9864 name too
    obj = jc_jws.JWS()
    obj.deserialize(token.decode("ascii"), jc_key(PUB["ed25519"]))
    assert obj.payload == BODY
    # a verifier limited to EdDSA refuses it
    with pytest.raises(SignatureError):
        jws_verifier([PUB["ed25519"]], algorithms=["EdDSA"]).verify(token, now=NOW)


def test_jwcrypto_ed25519_alg_verifies_with_ours() -> None:
    obj = jc_jws.JWS(BODY)
    obj.add_signature(jc_key(PRIV["ed25519"]), alg="Ed25519", protected=json.dumps({"alg": "Ed25519"}))
    token = obj.serialize(compact=True).encode("ascii")
    assert jws_verifier([PUB["ed25519"]]).verify(token, now=NOW).payload == BODY


def test_jws_signer_alg_must_match_key() -> None:
    with pytest.raises(KeyFormatError):
        JwsSigner(PRIV["rsa"], alg="ES256")
    with pytest.raises(KeyFormatError):
        JwsSigner(PRIV["ed25519"], alg="RS256")
    with pytest.raises(KeyFormatError):
        JwsSigner(PRIV["rsa"], alg="HS256")
    with pytest.raises(KeyFormatError, match="private"):
        JwsSigner(PUB["ec"])


def test_jws_verifier_construction_errors() -> None:
    with pytest.raises(KeyFormatError):
        jws_verifier([])
    with pytest.raises(KeyFormatError):
        jws_verifier([PUB["rsa"]], algorithms=["HS256"])
    with pytest.raises(KeyFormatError):
        jws_verifier([PUB["rsa"]], algorithms=["none"])
    with pytest.raises(KeyFormatError):
        jws_verifier(["not a key"])


def test_jws_custom_kid() -> None:
    token = sign_jws("ec", kid="key-2024")
    with pytest.raises(SignatureError):
        jws_verifier([PUB["ec"]]).verify(token, now=NOW)  # the verifier knows it by its thumbprint
    jwk = keys.public_jwk(keys.load_key(PUB["ec"]))
    jwk["kid"] = "key-2024"
    verified = jws_verifier(jwks=[{"keys": [jwk]}]).verify(token, now=NOW)
    assert verified.key_id == "key-2024"
    assert verified.payload == BODY


# --- content type and payload fidelity ---


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("body", "content_type", "typ"),
    [
        (BODY, "application/jwt", "JWT"),
        (b'  {"a": 1}\n', "application/jwt", "JWT"),
        (b"[1, 2, 3]", "application/jose", None),
        (b'"just a string"', "application/jose", None),
        (b"plain text", "application/jose", None),
        (b"\xff\xfe\x00binary", "application/jose", None),
        (b"", "application/jose", None),
    ],
)
def test_content_type_and_payload(kind: str, body: bytes, content_type: str, typ: str | None) -> None:
    signed = JwsSigner(PRIV[kind]).sign(body, msg_id="m", now=NOW)
    assert signed.content_type == content_type
    verified = jws_verifier([PUB[kind]]).verify(signed.body, now=NOW)
    assert verified.payload == body
    assert verified.claims.get("typ") == typ


def test_jws_payload_whitespace_preserved() -> None:
    body = b'\n\t{ "k" :  "v" }  \r\n'
    token = sign_jws("rsa", body)
    assert jws_verifier([PUB["rsa"]]).verify(token, now=NOW).payload == body
    # surrounding whitespace on the wire is tolerated
    assert jws_verifier([PUB["rsa"]]).verify(b"  " + token + b"\r\n", now=NOW).payload == body


def test_jws_large_body() -> None:
    body = json.dumps({"items": ["x" * 100] * 3000}).encode()
    assert len(body) > 300_000
    for kind in KINDS:
        signed = JwsSigner(PRIV[kind]).sign(body, msg_id="m", now=NOW)
        assert signed.content_type == "application/jwt"
        assert jws_verifier([PUB[kind]]).verify(signed.body, now=NOW).payload == body


# --- refusals ---


def test_alg_none_refused() -> None:
    payload = b64u(BODY)
    for header in ({"alg": "none"}, {"alg": "none", "kid": KID["rsa"]}, {"alg": "None"}):
        token = f"{b64u(json.dumps(header).encode())}.{payload}.".encode()
        with pytest.raises(SignatureError):
            jws_verifier([PUB[k] for k in KINDS]).verify(token, now=NOW)


def test_hmac_with_public_key_confusion_refused() -> None:
    for kind in KINDS:
        pem = PUB[kind].encode("ascii")
        for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": KID[kind]}):
            signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(BODY)}".encode()
            sig = hmac.new(pem, signing_input, hashlib.sha256).digest()
            token = signing_input + b"." + b64u(sig).encode()
            with pytest.raises(SignatureError):
                jws_verifier([PUB[kind]]).verify(token, now=NOW)


def test_unknown_kid_refused() -> None:
    token = pyjwt.encode({"a": 1}, PRIV["rsa"], algorithm="RS256", headers={"kid": "nope"})
    with pytest.raises(SignatureError) as info:
        jws_verifier([PUB["rsa"]]).verify(token.encode(), now=NOW)
    assert info.value.reason == "unknown_key"


@pytest.mark.parametrize("kind", KINDS)
def test_signed_by_another_key_refused(kind: str) -> None:
    # with the verifier's kid (a forgery attempt) ...
    token = JwsSigner(OTHER_PRIV[kind], kid=KID[kind]).sign(BODY, msg_id="m", now=NOW).body
    with pytest.raises(SignatureError) as info:
        jws_verifier([PUB[kind]]).verify(token, now=NOW)
    assert info.value.reason == "signature_mismatch"
    # ... and without a kid
    no_kid = pyjwt.encode({"a": 1}, OTHER_PRIV[kind], algorithm=ALG[kind])
    with pytest.raises(SignatureError):
        jws_verifier([PUB[kind]]).verify(no_kid.encode(), now=NOW)


def test_signed_by_another_key_with_own_kid() -> None:
    for kind in KINDS:
        token = JwsSigner(OTHER_PRIV[kind]).sign(BODY, msg_id="m", now=NOW).body
        with pytest.raises(SignatureError) as info:
            jws_verifier([PUB[kind]]).verify(token, now=NOW)
        assert info.value.reason == "unknown_key"


def test_key_type_mismatch_refused() -> None:
    es = sign_jws("ec")
    with pytest.raises(SignatureError):
        jws_verifier([PUB["rsa"]]).verify(es, now=NOW)
    es_no_kid = pyjwt.encode({"a": 1}, PRIV["ec"], algorithm="ES256")
    with pytest.raises(SignatureError):
        jws_verifier([PUB["rsa"], PUB["ed25519"]]).verify(es_no_kid.encode(), now=NOW)
    # an RS256 header over an EC key's kid
    rs = pyjwt.encode({"a": 1}, PRIV["rsa"], algorithm="RS256", headers={"kid": KID["ec"]})
    with pytest.raises(SignatureError):
        jws_verifier([PUB["ec"], PUB["rsa"]]).verify(rs.encode(), now=NOW)


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES384", "HS256", "HS512", "A256GCM", "", "Ed448"])
def test_other_algorithms_refused(alg: str) -> None:
    header = b64u(json.dumps({"alg": alg}).encode())
    token = f"{header}.{b64u(BODY)}.{b64u(b'sig' * 20)}".encode()
    with pytest.raises(SignatureError):
        jws_verifier([PUB[k] for k in KINDS]).verify(token, now=NOW)


def test_tampered_payload_refused() -> None:
    for kind in KINDS:
        head, _, sig = sign_jws(kind).split(b".")
        token = head + b"." + b64u(b'{"type": "invoice.paid", "amount": 1}').encode() + b"." + sig
        with pytest.raises(SignatureError):
            jws_verifier([PUB[kind]]).verify(token, now=NOW)


def _malformed_tokens() -> list[bytes]:
    token = sign_jws("rsa")
    head, payload, _sig = token.split(b".")
    return [
        b"",
        b"   \n",
        token[: len(head) + 10],  # truncated inside the payload: 2 segments
        token[: len(head)],  # header only
        head + b"." + payload,  # 2 segments
        head + b"." + payload + b"." + b"sig.extra",  # 4 segments
        b"!!!!." + payload + b".c2ln",  # header not base64
        b64u(b"not json").encode() + b"." + payload + b".c2ln",
        b64u(b"[1, 2]").encode() + b"." + payload + b".c2ln",
        b64u(b'{"typ": "JWT"}').encode() + b"." + payload + b".c2ln",  # no alg
        b64u(b'{"alg": 5}').encode() + b"." + payload + b".c2ln",
        b64u(b'{"alg": "RS256", "kid": 7}').encode() + b"." + payload + b".c2ln",
        b64u(b"\xff\xfe").encode() + b"." + payload + b".c2ln",
        b"...",
    ]


@pytest.mark.parametrize("token", _malformed_tokens())
def test_malformed_jws(token: bytes) -> None:
    with pytest.raises(MalformedError):
        jws_verifier([PUB[k] for k in KINDS]).verify(token, now=NOW)


def test_truncated_signature_refused() -> None:
    token = sign_jws("rsa")
    for cut in (1, 2, 10, 100):
        with pytest.raises(VerificationError):
            jws_verifier([PUB["rsa"]]).verify(token[:-cut], now=NOW)


def test_broken_payload_segment_is_verification_error() -> None:
    head, _payload, sig = sign_jws("rsa").split(b".")
    for bad in (b"a", b"!!!", b"\xff\xff"):
        with pytest.raises(VerificationError):
            jws_verifier([PUB["rsa"]]).verify(head + b"." + bad + b"." + sig, now=NOW)


# ============================== JWE ==============================


@pytest.mark.parametrize("kind", JWE_KINDS)
def test_jwe_round_trip(kind: str) -> None:
    signed = JweEncrypter(PUB[kind]).sign(BODY, msg_id="m", now=NOW)
    assert signed.content_type == "application/jose"
    assert signed.body.count(b".") == 4
    assert BODY not in signed.body
    header = json.loads(base64.urlsafe_b64decode(signed.body.split(b".")[0] + b"=="))
    assert header["alg"] == JWE_ALG[kind]
    assert header["enc"] == "A256GCM"
    assert header["kid"] == KID[kind]
    verified = jwe_decrypter([PRIV[kind]]).verify(signed.body, now=NOW)
    assert verified.payload == BODY
    assert verified.key_id == KID[kind]
    # two encryptions of the same body differ (fresh CEK / IV)
    assert JweEncrypter(PUB[kind]).sign(BODY, msg_id="m", now=NOW).body != signed.body


def test_jwe_encrypt_to_private_key_uses_public_half() -> None:
    token = JweEncrypter(PRIV["rsa"]).sign(BODY, msg_id="m", now=NOW).body
    assert jwe_decrypter([PRIV["rsa"]]).verify(token, now=NOW).payload == BODY


@pytest.mark.parametrize("kind", JWE_KINDS)
def test_our_jwe_decrypts_with_jwcrypto(kind: str) -> None:
    token = JweEncrypter(PUB[kind]).sign(BODY, msg_id="m", now=NOW).body
    obj = jc_jwe.JWE()
    obj.deserialize(token.decode("ascii"), key=jc_key(PRIV[kind]))
    assert obj.payload == BODY


@pytest.mark.parametrize("kind", JWE_KINDS)
def test_jwcrypto_jwe_decrypts_with_ours(kind: str) -> None:
    plaintext = b"secret payload \x00\xff"
    obj = jc_jwe.JWE(plaintext, protected=json.dumps({"alg": JWE_ALG[kind], "enc": "A256GCM"}))
    obj.add_recipient(jc_key(PUB[kind]))
    token = obj.serialize(compact=True).encode("ascii")
    verified = jwe_decrypter([PRIV[kind]]).verify(token, now=NOW)
    assert verified.payload == plaintext
    assert verified.key_id is None
    # with several keys, the right one is found
    both = jwe_decrypter([OTHER_PRIV[kind], PRIV[kind]])
    assert both.verify(token, now=NOW).payload == plaintext


@pytest.mark.parametrize("kind", JWE_KINDS)
@pytest.mark.parametrize("signer", KINDS)
def test_nested_sign_then_encrypt(kind: str, signer: str) -> None:
    signed = JweEncrypter(PUB[kind], sign_key=PRIV[signer]).sign(BODY, msg_id="m", now=NOW)
    header = json.loads(base64.urlsafe_b64decode(signed.body.split(b".")[0] + b"=="))
    assert header["cty"] == "JWT"
    verified = jwe_decrypter([PRIV[kind]], verify_keys=[PUB[signer]]).verify(signed.body, now=NOW)
    assert verified.payload == BODY
    assert verified.key_id == KID[signer]
    # with jwks for the inner signature
    doc = keys.jwks_document([keys.load_key(PUB[signer])])
    assert jwe_decrypter([PRIV[kind]], verify_jwks=[doc]).verify(signed.body, now=NOW).payload == BODY
    # a decrypter without verify keys returns the inner JWS, which jwcrypto can check
    inner = jwe_decrypter([PRIV[kind]]).verify(signed.body, now=NOW).payload
    obj = jc_jws.JWS()
    obj.deserialize(inner.decode("ascii"), jc_key(PUB[signer]))
    assert obj.payload == BODY


def test_nested_wrong_signer_refused() -> None:
    token = JweEncrypter(PUB["rsa"], sign_key=OTHER_PRIV["ec"]).sign(BODY, msg_id="m", now=NOW).body
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV["rsa"]], verify_keys=[PUB["ec"]]).verify(token, now=NOW)
    forged = (
        JweEncrypter(PUB["rsa"], sign_key=keys.with_kid(keys.load_key(OTHER_PRIV["ec"]), KID["ec"]))
        .sign(BODY, msg_id="m", now=NOW)
        .body
    )
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV["rsa"]], verify_keys=[PUB["ec"]]).verify(forged, now=NOW)


def test_nested_required_rejects_plain_jwe() -> None:
    token = JweEncrypter(PUB["rsa"]).sign(BODY, msg_id="m", now=NOW).body
    decrypter = jwe_decrypter([PRIV["rsa"]], verify_keys=[PUB["ed25519"]])
    with pytest.raises(VerificationError):
        decrypter.verify(token, now=NOW)
    # even when the plaintext happens to look like a compact JWS made by someone else
    fake = pyjwt.encode({"a": 1}, OTHER_PRIV["ed25519"], algorithm="EdDSA").encode()
    token2 = JweEncrypter(PUB["rsa"]).sign(fake, msg_id="m", now=NOW).body
    with pytest.raises(SignatureError):
        decrypter.verify(token2, now=NOW)


@pytest.mark.parametrize("kind", JWE_KINDS)
def test_jwe_wrong_private_key(kind: str) -> None:
    ours = JweEncrypter(PUB[kind]).sign(BODY, msg_id="m", now=NOW).body
    with pytest.raises(SignatureError):
        jwe_decrypter([OTHER_PRIV[kind]]).verify(ours, now=NOW)  # kid does not match
    obj = jc_jwe.JWE(BODY, protected=json.dumps({"alg": JWE_ALG[kind], "enc": "A256GCM"}))
    obj.add_recipient(jc_key(PUB[kind]))
    no_kid = obj.serialize(compact=True).encode("ascii")
    with pytest.raises(SignatureError) as info:
        jwe_decrypter([OTHER_PRIV[kind]]).verify(no_kid, now=NOW)  # actually tries and fails to decrypt
    assert info.value.reason == "decryption_failed"


def _flip(segment: bytes, index: int) -> bytes:
    chars = bytearray(segment)
    chars[index] = ord("A") if chars[index] != ord("A") else ord("B")
    return bytes(chars)


@pytest.mark.parametrize("kind", JWE_KINDS)
@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_jwe_tampered_refused(kind: str, part: int) -> None:
    token = JweEncrypter(PUB[kind]).sign(BODY, msg_id="m", now=NOW).body
    segments = token.split(b".")
    segments[part] = _flip(segments[part], 0)  # wrapped key, IV, ciphertext or tag
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV[kind]]).verify(b".".join(segments), now=NOW)


def test_jwe_tampered_header_refused() -> None:
    token = JweEncrypter(PUB["rsa"]).sign(BODY, msg_id="m", now=NOW).body
    segments = token.split(b".")
    header = json.loads(base64.urlsafe_b64decode(segments[0] + b"=="))
    # same header members, different bytes: the AAD no longer matches
    reencoded = b64u(json.dumps(header, separators=(", ", ": ")).encode()).encode()
    assert reencoded != segments[0]
    segments[0] = reencoded
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV["rsa"]]).verify(b".".join(segments), now=NOW)


@pytest.mark.parametrize(
    ("alg", "enc"),
    [
        ("RSA1_5", "A256GCM"),
        ("RSA-OAEP-256", "A128CBC-HS256"),
        ("RSA-OAEP", "A256GCM"),
        ("RSA-OAEP-256", "A128GCM"),
    ],
)
def test_jwe_disallowed_algorithms(alg: str, enc: str) -> None:
    obj = jc_jwe.JWE(BODY, protected=json.dumps({"alg": alg, "enc": enc}), algs=[alg, enc])
    obj.add_recipient(jc_key(PUB["rsa"]))
    token = obj.serialize(compact=True).encode("ascii")
    with pytest.raises(SignatureError) as info:
        jwe_decrypter([PRIV["rsa"]]).verify(token, now=NOW)
    assert info.value.reason == "algorithm_not_allowed"


def test_jwe_ecdh_token_to_rsa_decrypter_refused() -> None:
    token = JweEncrypter(PUB["ec"]).sign(BODY, msg_id="m", now=NOW).body
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV["rsa"]]).verify(token, now=NOW)
    with pytest.raises(SignatureError):
        jwe_decrypter([PRIV["ec"]], algorithms=["RSA-OAEP-256"]).verify(token, now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        b"a.b.c.d.e",
        b"....",
        b"!!!.b.c.d.e",
        b64u(b"not json").encode() + b".b.c.d.e",
        b64u(b'{"enc": "A256GCM"}').encode() + b".b.c.d.e",
        b64u(b'{"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": 1}').encode() + b".b.c.d.e",
        b"a.b.c",
        b"a.b.c.d.e.f",
        b"",
    ],
)
def test_jwe_malformed(token: bytes) -> None:
    with pytest.raises(MalformedError):
        jwe_decrypter([PRIV["rsa"], PRIV["ec"]]).verify(token, now=NOW)


def test_jwe_valid_header_with_garbage_segments() -> None:
    for kind in JWE_KINDS:
        head = b64u(json.dumps({"alg": JWE_ALG[kind], "enc": "A256GCM"}).encode()).encode()
        for rest in (b".b.c.d.e", b"....", b".AAAA.AAAA.AAAA.AAAA", b".!!.@@.##.$$"):
            with pytest.raises(VerificationError):
                jwe_decrypter([PRIV[kind]]).verify(head + rest, now=NOW)


@pytest.mark.parametrize("kind", JWE_KINDS)
def test_jwe_large_plaintext(kind: str) -> None:
    body = json.dumps({"blob": "y" * 200_000}).encode()
    token = JweEncrypter(PUB[kind], sign_key=PRIV["ed25519"]).sign(body, msg_id="m", now=NOW).body
    assert jwe_decrypter([PRIV[kind]], verify_keys=[PUB["ed25519"]]).verify(token, now=NOW).payload == body
    plain = JweEncrypter(PUB[kind]).sign(body, msg_id="m", now=NOW).body
    assert jwe_decrypter([PRIV[kind]]).verify(plain, now=NOW).payload == body


def test_jwe_construction_errors() -> None:
    with pytest.raises(KeyFormatError):
        JweEncrypter(PUB["ed25519"])
    with pytest.raises(KeyFormatError):
        JweEncrypter(PUB["rsa"], alg="RSA1_5")
    with pytest.raises(KeyFormatError):
        JweEncrypter(PUB["rsa"], alg="ECDH-ES+A256KW")
    with pytest.raises(KeyFormatError):
        jwe_decrypter([])
    with pytest.raises(KeyFormatError):
        jwe_decrypter([PUB["rsa"]])
    with pytest.raises(KeyFormatError):
        jwe_decrypter([PRIV["ed25519"]])
    with pytest.raises(KeyFormatError):
        jwe_decrypter([PRIV["rsa"]], algorithms=["RSA1_5"])


# ============================== JWT bearer ==============================

RAW_SECRET = "a-raw-webhook-secret-of-at-least-32-bytes!"
OTHER_SECRET = "another-raw-webhook-secret-32-bytes-long!!"
WHSEC_BYTES = bytes(range(1, 33))
WHSEC = "whsec_" + base64.b64encode(WHSEC_BYTES).decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


def token_of(signed_headers: dict[str, str]) -> str:
    scheme, _, token = signed_headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def pyjwt_claims(body: bytes = BODY, now: int = NOW, **extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iat": now,
        "exp": now + 60,
        "jti": "jti-1",
        "webhook_id": "msg_1",
        "body_sha256": body_hash(body),
    }
    claims.update(extra)
    return claims


def test_body_hash() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(BODY).digest()).rstrip(b"=").decode()
    assert body_hash(BODY) == expected
    assert "=" not in body_hash(b"")
    assert body_hash(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_jwt_round_trip() -> None:
    signed = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="msg_1", now=NOW)
    assert signed.body == BODY
    assert signed.content_type is None
    verified = JwtBearerVerifier([RAW_SECRET]).verify(BODY, signed.headers, now=NOW + 5)
    assert verified.payload == BODY
    assert verified.msg_id == "msg_1"
    assert verified.timestamp == NOW
    assert verified.key_id == "0"
    claims = verified.claims
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + 60
    assert claims["webhook_id"] == "msg_1"
    assert claims["body_sha256"] == body_hash(BODY)
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


def test_jwt_fractional_now_and_custom_jti() -> None:
    signed = JwtBearerSigner(RAW_SECRET, lifetime=120).sign(BODY, msg_id="m", now=NOW + 0.9, jti="fixed")
    verified = JwtBearerVerifier([RAW_SECRET]).verify(BODY, signed.headers, now=NOW)
    assert verified.claims["iat"] == NOW
    assert verified.claims["exp"] == NOW + 120
    assert verified.claims["jti"] == "fixed"


def test_jwt_jti_is_unique() -> None:
    signer = JwtBearerSigner(RAW_SECRET)
    verifier = JwtBearerVerifier([RAW_SECRET])
    jtis = {
        verifier.verify(BODY, signer.sign(BODY, msg_id="m", now=NOW).headers, now=NOW).claims["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_jwt_decodes_with_pyjwt() -> None:
    now = int(time.time())
    signed = JwtBearerSigner(RAW_SECRET, issuer="me", audience="you").sign(BODY, msg_id="msg_9", now=now)
    token = token_of(signed.headers)
    assert pyjwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = pyjwt.decode(
        token,
        RAW_SECRET.encode(),
        algorithms=["HS256"],
        audience="you",
        issuer="me",
        options={"require": ["exp", "iat", "jti"]},
    )
    assert claims["webhook_id"] == "msg_9"
    assert claims["body_sha256"] == body_hash(BODY)
    assert claims["exp"] - claims["iat"] == 60


def test_jwt_whsec_secret_decodes_with_pyjwt() -> None:
    now = int(time.time())
    token = token_of(JwtBearerSigner(WHSEC).sign(BODY, msg_id="m", now=now).headers)
    claims = pyjwt.decode(token, WHSEC_BYTES, algorithms=["HS256"])
    assert claims["body_sha256"] == body_hash(BODY)
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, WHSEC.encode(), algorithms=["HS256"])


def test_pyjwt_bearer_token_verifies_with_ours() -> None:
    token = pyjwt.encode(pyjwt_claims(), RAW_SECRET.encode(), algorithm="HS256")
    verified = JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW)
    assert verified.payload == BODY
    assert verified.msg_id == "msg_1"
    assert verified.claims["jti"] == "jti-1"
    # whsec_ form: key is the decoded bytes
    token2 = pyjwt.encode(pyjwt_claims(), WHSEC_BYTES, algorithm="HS256")
    assert JwtBearerVerifier([WHSEC]).verify(BODY, bearer(token2), now=NOW).msg_id == "msg_1"


def test_jwt_non_string_webhook_id() -> None:
    token = pyjwt.encode(pyjwt_claims(webhook_id=5), RAW_SECRET.encode(), algorithm="HS256")
    verified = JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW)
    assert verified.msg_id == "jti-1"  # not a usable webhook_id: the jti identifies the token
    no_ids = {k: v for k, v in pyjwt_claims(webhook_id=5).items() if k != "jti"}
    token = pyjwt.encode(no_ids, RAW_SECRET.encode(), algorithm="HS256")
    assert JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW).msg_id is None


def test_jwt_expiry_window() -> None:
    headers = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    verifier = JwtBearerVerifier([RAW_SECRET], leeway=30)
    # exp = NOW+60; accepted until now - leeway reaches exp
    assert verifier.verify(BODY, headers, now=NOW + 89).payload == BODY
    with pytest.raises(TimestampError) as info:
        verifier.verify(BODY, headers, now=NOW + 90)
    assert info.value.reason == "token_expired"
    with pytest.raises(TimestampError):
        verifier.verify(BODY, headers, now=NOW + 10_000)
    with pytest.raises(TimestampError):
        JwtBearerVerifier([RAW_SECRET], leeway=0).verify(BODY, headers, now=NOW + 60)


def test_jwt_issued_in_future() -> None:
    headers = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    verifier = JwtBearerVerifier([RAW_SECRET], leeway=30)
    assert verifier.verify(BODY, headers, now=NOW - 30).payload == BODY
    with pytest.raises(TimestampError) as info:
        verifier.verify(BODY, headers, now=NOW - 31)
    assert info.value.reason == "timestamp_in_future"


def test_jwt_lifetime_cap() -> None:
    headers = JwtBearerSigner(RAW_SECRET, lifetime=600).sign(BODY, msg_id="m", now=NOW).headers
    with pytest.raises(TimestampError) as info:
        JwtBearerVerifier([RAW_SECRET], max_lifetime=300).verify(BODY, headers, now=NOW)
    assert info.value.reason == "token_lifetime"
    assert JwtBearerVerifier([RAW_SECRET], max_lifetime=600).verify(BODY, headers, now=NOW).payload == BODY
    # a far-future exp from a third party is refused too
    token = pyjwt.encode(pyjwt_claims(exp=NOW + 10**7), RAW_SECRET.encode(), algorithm="HS256")
    with pytest.raises(TimestampError):
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW)


def test_jwt_signer_lifetime_bounds() -> None:
    for lifetime in (0, -1, 3601):
        with pytest.raises(KeyFormatError):
            JwtBearerSigner(RAW_SECRET, lifetime=lifetime)


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": NOW, "jti": "x"},
        {"exp": NOW + 60},
        {"iat": float(NOW), "exp": NOW + 60},
        {"iat": NOW, "exp": "soon"},
        {"iat": True, "exp": NOW + 60},
    ],
)
def test_jwt_missing_or_bad_times(claims: dict[str, Any]) -> None:
    claims = {"body_sha256": body_hash(BODY), **claims}
    token = pyjwt.encode(claims, RAW_SECRET.encode(), algorithm="HS256")
    with pytest.raises(VerificationError):
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW)


def test_jwt_body_changed() -> None:
    headers = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    verifier = JwtBearerVerifier([RAW_SECRET])
    for other in (BODY + b" ", b"", BODY.replace(b"1999", b"1"), BODY[:-1]):
        with pytest.raises(SignatureError) as info:
            verifier.verify(other, headers, now=NOW)
        assert info.value.reason == "body_hash_mismatch"
    no_hash = pyjwt.encode({"iat": NOW, "exp": NOW + 60}, RAW_SECRET.encode(), algorithm="HS256")
    with pytest.raises(SignatureError):
        verifier.verify(BODY, bearer(no_hash), now=NOW)
    non_ascii = pyjwt.encode(pyjwt_claims(body_sha256="é" * 43), RAW_SECRET.encode(), algorithm="HS256")
    with pytest.raises(SignatureError):
        verifier.verify(BODY, bearer(non_ascii), now=NOW)


def test_jwt_other_algorithms_refused() -> None:
    verifier = JwtBearerVerifier([RAW_SECRET])
    hs512 = pyjwt.encode(pyjwt_claims(), RAW_SECRET.encode() * 2, algorithm="HS512")
    with pytest.raises(SignatureError) as info:
        verifier.verify(BODY, bearer(hs512), now=NOW)
    assert info.value.reason == "algorithm_not_allowed"
    payload = b64u(json.dumps(pyjwt_claims()).encode())
    for header in ({"alg": "none"}, {"alg": "none", "typ": "JWT"}, {"alg": "hs256"}, {"typ": "JWT"}):
        token = f"{b64u(json.dumps(header).encode())}.{payload}."
        with pytest.raises(SignatureError):
            verifier.verify(BODY, bearer(token), now=NOW)
    rs = pyjwt.encode(pyjwt_claims(), PRIV["rsa"], algorithm="RS256")
    with pytest.raises(SignatureError):
        verifier.verify(BODY, bearer(rs), now=NOW)


def test_jwt_wrong_secret() -> None:
    headers = JwtBearerSigner(OTHER_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    with pytest.raises(SignatureError) as info:
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, headers, now=NOW)
    assert info.value.reason == "signature_mismatch"


def test_jwt_tampered_claims() -> None:
    token = token_of(JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers)
    head, _, sig = token.split(".")
    forged = b64u(json.dumps(pyjwt_claims(body=b"evil")).encode())
    with pytest.raises(SignatureError):
        JwtBearerVerifier([RAW_SECRET]).verify(b"evil", bearer(f"{head}.{forged}.{sig}"), now=NOW)


def test_jwt_rotation() -> None:
    verifier = JwtBearerVerifier([WHSEC, RAW_SECRET])
    old = JwtBearerSigner(WHSEC).sign(BODY, msg_id="m", now=NOW).headers
    new = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    assert verifier.verify(BODY, old, now=NOW).key_id == "0"
    assert verifier.verify(BODY, new, now=NOW).key_id == "1"
    assert (
        JwtBearerVerifier([keys.parse_symmetric_secret(RAW_SECRET)]).verify(BODY, new, now=NOW).key_id == "0"
    )
    with pytest.raises(SignatureError):
        JwtBearerVerifier([OTHER_SECRET, WHSEC]).verify(BODY, new, now=NOW)


def test_jwt_issuer_and_audience() -> None:
    headers = (
        JwtBearerSigner(RAW_SECRET, issuer="sender", audience="receiver")
        .sign(BODY, msg_id="m", now=NOW)
        .headers
    )
    ok = JwtBearerVerifier([RAW_SECRET], issuer="sender", audience="receiver").verify(BODY, headers, now=NOW)
    assert ok.claims["iss"] == "sender"
    assert ok.claims["aud"] == "receiver"
    # not checking is allowed
    assert JwtBearerVerifier([RAW_SECRET]).verify(BODY, headers, now=NOW).payload == BODY
    with pytest.raises(SignatureError) as info:
        JwtBearerVerifier([RAW_SECRET], issuer="someone-else").verify(BODY, headers, now=NOW)
    assert info.value.reason == "bad_issuer"
    with pytest.raises(SignatureError) as info:
        JwtBearerVerifier([RAW_SECRET], audience="other").verify(BODY, headers, now=NOW)
    assert info.value.reason == "bad_audience"
    plain = JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    with pytest.raises(SignatureError):
        JwtBearerVerifier([RAW_SECRET], issuer="sender").verify(BODY, plain, now=NOW)
    with pytest.raises(SignatureError):
        JwtBearerVerifier([RAW_SECRET], audience="receiver").verify(BODY, plain, now=NOW)
    # an audience list containing ours is accepted
    token = pyjwt.encode(pyjwt_claims(aud=["x", "receiver"]), RAW_SECRET.encode(), algorithm="HS256")
    verifier = JwtBearerVerifier([RAW_SECRET], audience="receiver")
    assert verifier.verify(BODY, bearer(token), now=NOW).claims["aud"] == ["x", "receiver"]
    token2 = pyjwt.encode(pyjwt_claims(aud=["x", "y"]), RAW_SECRET.encode(), algorithm="HS256")
    with pytest.raises(SignatureError):
        verifier.verify(BODY, bearer(token2), now=NOW)


@pytest.mark.parametrize(
    "secret",
    ["short", "x" * 31, "whsec_" + base64.b64encode(b"k" * 24).decode(), b"y" * 31],
)
def test_jwt_short_secret(secret: str | bytes) -> None:
    with pytest.raises(KeyFormatError, match="32 bytes"):
        JwtBearerSigner(secret)
    with pytest.raises(KeyFormatError, match="32 bytes"):
        JwtBearerVerifier([RAW_SECRET, secret])


def test_jwt_verifier_needs_secrets() -> None:
    with pytest.raises(KeyFormatError):
        JwtBearerVerifier([])
    with pytest.raises(KeyFormatError):
        JwtBearerVerifier([""])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Other": "Bearer abc"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Basic x"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": ""},
        {"Authorization": "Token a.b.c"},
        {"Authorization": "Bearer " + "a" * 9000},
    ],
)
def test_jwt_missing_or_wrong_scheme(headers: dict[str, str]) -> None:
    with pytest.raises(MalformedError):
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, headers, now=NOW)


def test_jwt_header_name_case_and_custom_header() -> None:
    token = token_of(JwtBearerSigner(RAW_SECRET).sign(BODY, msg_id="m", now=NOW).headers)
    verifier = JwtBearerVerifier([RAW_SECRET])
    for headers in ({"authorization": f"Bearer {token}"}, {"AUTHORIZATION": f"bearer  {token} "}):
        assert verifier.verify(BODY, headers, now=NOW).payload == BODY
    signed = JwtBearerSigner(RAW_SECRET, header="X-Webhook-Token").sign(BODY, msg_id="m", now=NOW)
    assert list(signed.headers) == ["X-Webhook-Token"]
    custom = JwtBearerVerifier([RAW_SECRET], header="X-Webhook-Token")
    assert (
        custom.verify(BODY, {"x-webhook-token": signed.headers["X-Webhook-Token"]}, now=NOW).payload == BODY
    )
    with pytest.raises(MalformedError):
        custom.verify(BODY, {"Authorization": signed.headers["X-Webhook-Token"]}, now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "a.b",
        "a.b.c",
        "...",
        "a.b.c.d",
        "!!!.!!!.!!!",
        b64u(b"not json") + ".e30.sig",
        b64u(b'{"alg": "HS256"}') + ".!!!.sig",
        b64u(b'{"alg": "HS256"}') + "." + b64u(b"not json") + ".c2ln",
        b64u(b'{"alg": "HS256"}') + "." + b64u(b"[1]") + ".c2ln",
        b64u(b'{"alg": "HS256"}') + ".e30.",
        b64u(b"[]") + ".e30.sig",
        b64u(b"\xff\xfe") + ".e30.sig",
    ],
)
def test_jwt_garbage_tokens(token: str) -> None:
    with pytest.raises(VerificationError):
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW)


def hs256(payload: bytes, secret: bytes = RAW_SECRET.encode()) -> str:
    """A correctly HS256-signed compact JWS over arbitrary payload bytes, made by hand."""
    signing_input = b64u(b'{"alg":"HS256","typ":"JWT"}') + "." + b64u(payload)
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64u(sig)}"


@pytest.mark.parametrize("payload", [b"[1, 2]", b"null", b"42", b"not json", b"\xff", b'"str"'])
def test_jwt_claims_not_an_object(payload: bytes) -> None:
    with pytest.raises(VerificationError):
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(hs256(payload)), now=NOW)


def test_hand_made_hs256_verifies() -> None:
    """The helper used by the fuzz test really produces valid tokens."""
    token = hs256(json.dumps(pyjwt_claims()).encode())
    assert JwtBearerVerifier([RAW_SECRET]).verify(BODY, bearer(token), now=NOW).claims["jti"] == "jti-1"
    # claims of the wrong type are refused, never crash
    for bad in ({"iss": 5}, {"aud": {"a": 1}}, {"webhook_id": [1]}, {"body_sha256": 3}):
        token = hs256(json.dumps(pyjwt_claims(**bad)).encode())
        verifier = JwtBearerVerifier([RAW_SECRET], issuer="i", audience="a")
        with pytest.raises(VerificationError):
            verifier.verify(BODY, bearer(token), now=NOW)


# ============================== hypothesis ==============================

_JWS_VERIFIER = jws_verifier([PUB[k] for k in KINDS])
_JWE_DECRYPTER = jwe_decrypter([PRIV[k] for k in JWE_KINDS])
_NESTED_DECRYPTER = jwe_decrypter([PRIV["rsa"]], verify_keys=[PUB["ed25519"]])
_JWT_VERIFIER = JwtBearerVerifier([RAW_SECRET])

_segment = st.binary(max_size=64).map(lambda b: b64u(b).encode())
_header_json = st.fixed_dictionaries(
    {
        "alg": st.sampled_from(
            ["RS256", "ES256", "EdDSA", "Ed25519", "RSA-OAEP-256", "ECDH-ES+A256KW", "none"]
        )
    },
    optional={
        "kid": st.one_of(st.text(max_size=5), st.sampled_from(list(KID.values())), st.integers()),
        "enc": st.sampled_from(["A256GCM", "A128GCM"]),
        "crit": st.lists(st.text(max_size=3), max_size=2),
        "b64": st.booleans(),
        "zip": st.just("DEF"),
    },
).map(lambda h: b64u(json.dumps(h).encode()).encode())


def _tokens(n: int) -> st.SearchStrategy[bytes]:
    return st.tuples(
        st.one_of(_header_json, _segment), st.lists(_segment, min_size=n - 1, max_size=n - 1)
    ).map(lambda t: b".".join([t[0], *t[1]]))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), _tokens(3), _tokens(5)))
def test_jws_verifier_fuzz(body: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        _JWS_VERIFIER.verify(body, now=NOW)
    assert info.value.reason


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), _tokens(5), _tokens(3)))
def test_jwe_decrypter_fuzz(body: bytes) -> None:
    for decrypter in (_JWE_DECRYPTER, _NESTED_DECRYPTER):
        with pytest.raises(VerificationError) as info:
            decrypter.verify(body, now=NOW)
        assert info.value.reason


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(lambda t: "Bearer " + t, st.text(max_size=200)),
        _tokens(3).map(lambda t: "Bearer " + t.decode()),
        st.builds(
            lambda claims: "Bearer " + hs256(json.dumps(claims).encode()),
            st.dictionaries(
                st.sampled_from(["iat", "exp", "body_sha256", "iss", "aud", "webhook_id", "jti"]),
                st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=8), st.none(), st.booleans()),
            ),
        ),
    ),
    st.binary(max_size=50),
)
def test_jwt_verifier_fuzz(value: str, body: bytes) -> None:
    # even correctly signed claims never carry the right body_sha256 (at most 8 characters here)
    with pytest.raises(VerificationError) as info:
        _JWT_VERIFIER.verify(body, {"Authorization": value}, now=NOW)
    assert info.value.reason


# ============================== reprs ==============================


def test_reprs_do_not_leak_key_material() -> None:
    secret_bits: list[str] = [RAW_SECRET, WHSEC, base64.b64encode(WHSEC_BYTES).decode()]
    for kind in KINDS:
        jwk = keys.load_key(PRIV[kind]).as_dict(private=True)
        secret_bits.append(jwk["d"])
        secret_bits.extend(line for line in PRIV[kind].splitlines()[1:-1] if len(line) > 20)
    objects: list[object] = [
        *(JwsSigner(PRIV[k]) for k in KINDS),
        jws_verifier([PUB[k] for k in KINDS]),
        *(JweEncrypter(PUB[k], sign_key=PRIV["ed25519"]) for k in JWE_KINDS),
        jwe_decrypter([PRIV[k] for k in JWE_KINDS], verify_keys=[PUB["ed25519"]]),
        JwtBearerSigner(RAW_SECRET),
        JwtBearerVerifier([RAW_SECRET, WHSEC]),
        keys.parse_symmetric_secret(RAW_SECRET),
    ]
    for obj in objects:
        text = repr(obj) + str(obj)
        for bit in secret_bits:
            assert bit not in text, (type(obj).__name__, bit[:8])
    assert "redacted" in repr(JwsSigner(PRIV["rsa"]))
    assert KID["rsa"] in repr(JwsSigner(PRIV["rsa"]))
    assert "nested=True" in repr(JweEncrypter(PUB["rsa"], sign_key=PRIV["ec"]))
    assert "<2 redacted>" in repr(JwtBearerVerifier([RAW_SECRET, WHSEC]))


def test_verified_repr_hides_payload() -> None:
    verified = jws_verifier([PUB["rsa"]]).verify(sign_jws("rsa"), now=NOW)
    assert b"invoice" not in repr(verified).encode()
    assert f"<{len(BODY)} bytes>" in repr(verified)


def test_error_messages_do_not_quote_tokens() -> None:
    token = sign_jws("rsa")
    sig = token.split(b".")[2].decode()
    with pytest.raises(SignatureError) as info:
        jws_verifier([OTHER_PUB["rsa"]]).verify(token, now=NOW)
    assert sig not in str(info.value)
    jwt_headers = JwtBearerSigner(OTHER_SECRET).sign(BODY, msg_id="m", now=NOW).headers
    with pytest.raises(SignatureError) as info2:
        JwtBearerVerifier([RAW_SECRET]).verify(BODY, jwt_headers, now=NOW)
    assert token_of(jwt_headers).split(".")[2] not in str(info2.value)
