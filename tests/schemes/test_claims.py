"""JWT claims (exp, nbf, iat, iss, aud, jti) judged alike by every token verifier: the rules on their own,
then JWS, JWE and the HS256 bearer with tokens made the way third parties make them (PyJWT, jwcrypto)."""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from hookgate.errors import ConfigError, KeyFormatError, MalformedError, SignatureError, TimestampError
from hookgate.schemes.claims import MAX_TOKEN_ID, ClaimRules, token_id
from hookgate.schemes.jose import JweDecrypter, JwsVerifier
from hookgate.schemes.jwt_bearer import JwtBearerVerifier, body_hash
from hookgate.schemes.registry import build_verifier

NOW = 1_700_000_000
BODY = b'{"type":"invoice.paid","id":"evt_1"}'
SECRET = "a-raw-webhook-secret-of-at-least-32-bytes!"


def _pem(key: Any, *, private: bool) -> str:
    if private:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


_SENDER = ec.generate_private_key(ec.SECP256R1())
_OTHER = ec.generate_private_key(ec.SECP256R1())
_RECEIVER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SENDER_PRIV, SENDER_PUB = _pem(_SENDER, private=True), _pem(_SENDER, private=False)
OTHER_PRIV = _pem(_OTHER, private=True)
RECEIVER_PRIV, RECEIVER_PUB = _pem(_RECEIVER, private=True), _pem(_RECEIVER, private=False)


def claims(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"iat": NOW, "exp": NOW + 300, "jti": "tok-1", "id": "evt_1"}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def es256(payload: dict[str, Any], key: str = SENDER_PRIV) -> bytes:
    return pyjwt.encode(payload, key, algorithm="ES256").encode()


def nested_jwe(payload: dict[str, Any] | bytes, signer: str | None = SENDER_PRIV) -> bytes:
    """Sign-then-encrypt as jwcrypto does it: a compact JWS, encrypted to the receiver (cty JWT)."""
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
    if signer is not None:
        inner = jc_jws.JWS(plaintext)
        inner.add_signature(
            jc_jwk.JWK.from_pem(signer.encode()), alg="ES256", protected=json.dumps({"alg": "ES256"})
        )
        plaintext = inner.serialize(compact=True).encode()
        protected["cty"] = "JWT"
    token = jc_jwe.JWE(plaintext, protected=json.dumps(protected))
    token.add_recipient(jc_jwk.JWK.from_pem(RECEIVER_PUB.encode()))
    return token.serialize(compact=True).encode()


def bearer(payload: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": "Bearer " + pyjwt.encode(payload, SECRET.encode(), algorithm="HS256")}


# -- the rules on their own -------------------------------------------------------------------------------

RULES = ClaimRules(leeway=30)
# (claims, now, expected reason or None when accepted)
CASES: list[tuple[str, dict[str, Any], float, str | None]] = [
    ("fresh", {"exp": NOW + 60, "iat": NOW}, NOW, None),
    ("exp within leeway", {"exp": NOW - 29}, NOW, None),
    ("exp just past leeway", {"exp": NOW - 30}, NOW, "token_expired"),
    ("exp long past", {"exp": NOW - 3600}, NOW, "token_expired"),
    ("fractional exp", {"exp": NOW + 0.5}, NOW, None),
    ("nbf now", {"exp": NOW + 60, "nbf": NOW}, NOW, None),
    ("nbf within leeway", {"exp": NOW + 60, "nbf": NOW + 30}, NOW, None),
    ("nbf in the future", {"exp": NOW + 600, "nbf": NOW + 31}, NOW, "token_not_yet_valid"),
    ("iat in the future", {"exp": NOW + 600, "iat": NOW + 31}, NOW, "timestamp_in_future"),
    ("old iat with exp", {"exp": NOW + 60, "iat": NOW - 86400}, NOW, None),
    ("no exp", {"iat": NOW}, NOW, "exp_missing"),
    ("nothing", {}, NOW, "exp_missing"),
    ("exp not a number", {"exp": "tomorrow"}, NOW, "malformed_token"),
    ("exp a bool", {"exp": True}, NOW, "malformed_token"),
    ("nbf a string", {"exp": NOW + 60, "nbf": "now"}, NOW, "malformed_token"),
    ("iat a list", {"exp": NOW + 60, "iat": [NOW]}, NOW, "malformed_token"),
    ("exp infinite", {"exp": float("inf")}, NOW, "malformed_token"),
]


@pytest.mark.parametrize(("payload", "now", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules_table(payload: dict[str, Any], now: float, reason: str | None) -> None:
    if reason is None:
        RULES.check(payload, now)
        return
    with pytest.raises((TimestampError, MalformedError)) as info:
        RULES.check(payload, now)
    assert info.value.reason == reason


def test_without_required_exp_an_old_iat_still_goes_stale() -> None:
    lax = ClaimRules(leeway=300, require_exp=False)
    lax.check({}, NOW)
    lax.check({"iat": NOW - 300}, NOW)
    with pytest.raises(TimestampError) as info:
        lax.check({"iat": NOW - 301}, NOW)
    assert info.value.reason == "timestamp_too_old"
    with pytest.raises(TimestampError):
        lax.check({"exp": NOW - 301}, NOW)  # an exp present is still checked


def test_issuer_and_audience_only_where_configured() -> None:
    RULES.check({"exp": NOW + 1, "iss": "anyone", "aud": "anything"}, NOW)
    strict = ClaimRules(issuer="acme", audience="us")
    strict.check({"exp": NOW + 1, "iss": "acme", "aud": "us"}, NOW)
    strict.check({"exp": NOW + 1, "iss": "acme", "aud": ["them", "us"]}, NOW)
    for bad, reason in [
        ({"iss": "evil", "aud": "us"}, "bad_issuer"),
        ({"aud": "us"}, "bad_issuer"),
        ({"iss": "acme", "aud": "them"}, "bad_audience"),
        ({"iss": "acme"}, "bad_audience"),
        ({"iss": "acme", "aud": {"us": 1}}, "bad_audience"),
    ]:
        with pytest.raises(SignatureError) as info:
            strict.check({"exp": NOW + 1, **bad}, NOW)
        assert info.value.reason == reason


@pytest.mark.parametrize(
    "kwargs", [{"leeway": -1}, {"leeway": True}, {"require_exp": "no"}, {"issuer": ""}, {"audience": 5}]
)
def test_rules_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(KeyFormatError):
        ClaimRules(**kwargs)


def test_token_id() -> None:
    assert token_id({"jti": "abc"}) == "abc"
    assert token_id({}) is None
    assert token_id({"jti": ""}) is None
    assert token_id({"jti": 42}) is None
    exact = "j" * MAX_TOKEN_ID
    assert token_id({"jti": exact}) == exact
    long_a, long_b = "j" * 300 + "a", "j" * 300 + "b"
    # long ids are digested, never cut: two tokens sharing a prefix stay two events
    assert token_id({"jti": long_a}) != token_id({"jti": long_b})
    assert len(token_id({"jti": long_a}) or "") <= MAX_TOKEN_ID


# -- JWS ----------------------------------------------------------------------------------------------------


def jws_verifier(**options: Any) -> Any:
    return build_verifier("jws", [], [SENDER_PUB.encode()], tolerance=30, options=options)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (claims(exp=NOW - 3600), "token_expired"),
        (claims(nbf=NOW + 3600), "token_not_yet_valid"),
        (claims(iat=NOW + 3600, exp=NOW + 7200), "timestamp_in_future"),
        (claims(exp=None), "exp_missing"),
    ],
)
def test_a_jws_outside_its_validity_is_refused(payload: dict[str, Any], reason: str) -> None:
    token = es256(payload)
    with pytest.raises((TimestampError, MalformedError)) as info:
        jws_verifier().verify(token, {}, now=NOW)
    assert info.value.reason == reason
    # the same key with valid claims passes: the refusal was about the claims
    assert jws_verifier().verify(es256(claims()), {}, now=NOW).payload


def test_a_jws_reports_its_jti_and_iat() -> None:
    verified = jws_verifier().verify(es256(claims()), {}, now=NOW)
    assert verified.msg_id == "tok-1"
    assert verified.timestamp == NOW
    assert json.loads(verified.payload)["id"] == "evt_1"
    assert jws_verifier().verify(es256(claims(jti=None)), {}, now=NOW).msg_id is None


def test_a_jws_without_exp_needs_the_opt_out() -> None:
    token = es256(claims(exp=None))
    verified = jws_verifier(require_exp=False).verify(token, {}, now=NOW)
    assert verified.msg_id == "tok-1"
    # a payload that is no JSON object has no claims at all
    raw = jc_jws.JWS(b"not a claims set")
    raw.add_signature(
        jc_jwk.JWK.from_pem(SENDER_PRIV.encode()), alg="ES256", protected=json.dumps({"alg": "ES256"})
    )
    token = raw.serialize(compact=True).encode()
    with pytest.raises(MalformedError):
        jws_verifier().verify(token, {}, now=NOW)
    assert jws_verifier(require_exp=False).verify(token, {}, now=NOW).payload == b"not a claims set"


def test_jws_issuer_and_audience() -> None:
    strict = jws_verifier(issuer="https://partner.example", audience="hookgate")
    ok = claims(iss="https://partner.example", aud="hookgate")
    assert strict.verify(es256(ok), {}, now=NOW).msg_id == "tok-1"
    with pytest.raises(SignatureError) as info:
        strict.verify(es256(claims(iss="https://evil.example", aud="hookgate")), {}, now=NOW)
    assert info.value.reason == "bad_issuer"
    with pytest.raises(SignatureError) as info:
        strict.verify(es256(claims(iss="https://partner.example", aud="someone")), {}, now=NOW)
    assert info.value.reason == "bad_audience"


def test_the_tolerance_is_the_leeway() -> None:
    token = es256(claims(exp=NOW - 100))
    with pytest.raises(TimestampError):
        build_verifier("jws", [], [SENDER_PUB.encode()], tolerance=100).verify(token, {}, now=NOW)
    assert build_verifier("jws", [], [SENDER_PUB.encode()], tolerance=101).verify(token, {}, now=NOW)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"require_exp": "false"}, "require_exp must be true or false"),
        ({"issuer": 5}, "issuer must be a non-empty string"),
        ({"audience": ""}, "audience must be a non-empty string"),
        ({"require_signature": "no"}, "require_signature must be true or false"),
    ],
)
def test_token_options_are_validated(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_verifier(
            "jwe", [], [RECEIVER_PRIV.encode()], options=options, sender_keys=[SENDER_PUB.encode()]
        )


# -- JWE ----------------------------------------------------------------------------------------------------


def jwe_verifier(**options: Any) -> Any:
    return build_verifier(
        "jwe", [], [RECEIVER_PRIV.encode()], tolerance=30, options=options, sender_keys=[SENDER_PUB.encode()]
    )


def test_sign_then_encrypt_from_jwcrypto_is_verified() -> None:
    verified = jwe_verifier().verify(nested_jwe(claims()), {}, now=NOW)
    assert json.loads(verified.payload)["id"] == "evt_1"  # the inner JWS's payload, not the JWS itself
    assert verified.msg_id == "tok-1"
    assert verified.claims["alg"] == "ES256"


def test_a_jwe_by_anyone_with_our_public_key_is_refused() -> None:
    # anyone can encrypt to our public key: unsigned, or signed with a key that is not the sender's
    with pytest.raises(MalformedError):
        jwe_verifier().verify(nested_jwe(claims(), signer=None), {}, now=NOW)
    with pytest.raises(SignatureError):
        jwe_verifier().verify(nested_jwe(claims(), signer=OTHER_PRIV), {}, now=NOW)


def test_the_inner_jws_claims_are_checked() -> None:
    with pytest.raises(TimestampError):
        jwe_verifier().verify(nested_jwe(claims(exp=NOW - 3600)), {}, now=NOW)
    with pytest.raises(TimestampError):
        jwe_verifier().verify(nested_jwe(claims(nbf=NOW + 3600)), {}, now=NOW)


def test_a_jwe_source_needs_sender_keys_unless_it_opts_out() -> None:
    with pytest.raises(ConfigError, match="sender's public keys"):
        build_verifier("jwe", [], [RECEIVER_PRIV.encode()])
    with pytest.raises(ConfigError, match="contradicts"):
        jwe_verifier(require_signature=False)
    unsigned = build_verifier(
        "jwe", [], [RECEIVER_PRIV.encode()], options={"require_signature": False}, tolerance=30
    )
    verified = unsigned.verify(nested_jwe(claims(), signer=None), {}, now=NOW)
    assert json.loads(verified.payload)["id"] == "evt_1"
    assert verified.msg_id == "tok-1"
    # its claims are judged all the same
    with pytest.raises(TimestampError):
        unsigned.verify(nested_jwe(claims(exp=NOW - 3600), signer=None), {}, now=NOW)


def test_sender_keys_only_for_jwe() -> None:
    with pytest.raises(ConfigError, match="only for scheme jwe"):
        build_verifier("jws", [], [SENDER_PUB.encode()], sender_keys=[SENDER_PUB.encode()])


def test_the_jwe_class_refuses_to_be_built_unsigned_by_default() -> None:
    with pytest.raises(KeyFormatError, match="proves nothing"):
        JweDecrypter([RECEIVER_PRIV])
    JweDecrypter([RECEIVER_PRIV], require_signature=False)
    decrypter = JweDecrypter([RECEIVER_PRIV], require_signature=False).nested(JwsVerifier([SENDER_PUB]))
    assert json.loads(decrypter.verify(nested_jwe(claims()), now=NOW).payload)["id"] == "evt_1"
    with pytest.raises(TimestampError):
        decrypter.verify(nested_jwe(claims(exp=NOW - 3600)), now=NOW)


# -- HS256 bearer -------------------------------------------------------------------------------------------


def hs256_claims(**extra: Any) -> dict[str, Any]:
    out = claims(body_sha256=body_hash(BODY), id=None)
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def test_bearer_nbf_in_the_future_is_refused() -> None:
    verifier = build_verifier("jwt-hs256", [SECRET], [], tolerance=30)
    with pytest.raises(TimestampError) as info:
        verifier.verify(BODY, bearer(hs256_claims(nbf=NOW + 120)), now=NOW)
    assert info.value.reason == "token_not_yet_valid"
    assert verifier.verify(BODY, bearer(hs256_claims(nbf=NOW)), now=NOW).payload == BODY


def test_bearer_expired_is_refused() -> None:
    verifier = build_verifier("jwt-hs256", [SECRET], [], tolerance=30)
    with pytest.raises(TimestampError):
        verifier.verify(BODY, bearer(hs256_claims(iat=NOW - 200, exp=NOW - 100)), now=NOW)


def test_bearer_jti_is_the_message_id_without_a_webhook_id() -> None:
    verifier = build_verifier("jwt-hs256", [SECRET], [], tolerance=30)
    assert verifier.verify(BODY, bearer(hs256_claims()), now=NOW).msg_id == "tok-1"
    # hookgate's own tokens name the message: that id is stable across retries, each with a fresh jti
    own = verifier.verify(BODY, bearer(hs256_claims(webhook_id="msg_9")), now=NOW)
    assert own.msg_id == "msg_9"


def test_bearer_issuer_audience_and_exp_options() -> None:
    strict = build_verifier(
        "jwt-hs256", [SECRET], [], tolerance=30, options={"issuer": "acme", "audience": "us"}
    )
    assert strict.verify(BODY, bearer(hs256_claims(iss="acme", aud="us")), now=NOW).payload == BODY
    with pytest.raises(SignatureError):
        strict.verify(BODY, bearer(hs256_claims(iss="evil", aud="us")), now=NOW)
    no_exp = hs256_claims(exp=None)
    with pytest.raises(MalformedError):
        build_verifier("jwt-hs256", [SECRET], [], tolerance=30).verify(BODY, bearer(no_exp), now=NOW)
    lax = build_verifier("jwt-hs256", [SECRET], [], tolerance=30, options={"require_exp": False})
    assert lax.verify(BODY, bearer(no_exp), now=NOW).payload == BODY
    with pytest.raises(TimestampError):
        lax.verify(BODY, bearer(no_exp), now=NOW + 31)  # without exp, the iat ages out
    with pytest.raises(MalformedError):
        JwtBearerVerifier([SECRET], require_exp=False).verify(BODY, bearer(hs256_claims(iat=None)), now=NOW)
