"""Key parsing, generation, secrets and JWKS documents (hookgate.keys)."""

from __future__ import annotations

import base64
import json
import pickle
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from jwcrypto import jwk as jwcrypto_jwk

from hookgate import keys
from hookgate.errors import ConfigError, KeyFormatError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _pkcs8(private_key: object) -> str:
    return private_key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _spki(private_key: object) -> str:
    return (
        private_key.public_key()  # type: ignore[attr-defined]
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_ED = ed25519.Ed25519PrivateKey.generate()

PRIVATE_PEMS = {"rsa": _pkcs8(_RSA), "ec": _pkcs8(_EC), "ed25519": _pkcs8(_ED)}
PUBLIC_PEMS = {"rsa": _spki(_RSA), "ec": _spki(_EC), "ed25519": _spki(_ED)}
KEY_CLASSES = {"rsa": RSAKey, "ec": ECKey, "ed25519": OKPKey}
KINDS = sorted(PRIVATE_PEMS)


# --- Secret ---


def test_secret_repr_and_str_are_redacted() -> None:
    s = keys.Secret(b"hunter2-super-secret")
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    assert "**" in repr(s)
    assert f"{s}" == str(s)
    assert s.reveal() == b"hunter2-super-secret"
    assert len(s) == len(b"hunter2-super-secret")


def test_secret_equality() -> None:
    assert keys.Secret(b"abc") == keys.Secret(b"abc")
    assert keys.Secret(b"abc") != keys.Secret(b"abd")
    assert keys.Secret(b"abc") != keys.Secret(b"abcd")
    assert keys.Secret(b"abc") != b"abc"


def test_secret_eq_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = keys.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    assert keys.Secret(b"x1") == keys.Secret(b"x1")
    assert calls == [(b"x1", b"x1")]


def test_secret_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(keys.Secret(b"abc"))
    with pytest.raises(TypeError):
        _ = {keys.Secret(b"abc")}


def test_secret_is_not_picklable() -> None:
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(keys.Secret(b"abc"))


def test_secret_requires_bytes() -> None:
    with pytest.raises(KeyFormatError):
        keys.Secret("text")  # type: ignore[arg-type]


# --- parse_symmetric_secret ---


def test_whsec_secret_decodes_base64() -> None:
    raw = bytes(range(32))
    s = keys.parse_symmetric_secret("whsec_" + base64.b64encode(raw).decode())
    assert s.reveal() == raw


def test_whsec_secret_as_bytes() -> None:
    raw = b"\x00\xff" * 16
    s = keys.parse_symmetric_secret(b"whsec_" + base64.b64encode(raw))
    assert s.reveal() == raw


def test_raw_secret_is_utf8_bytes() -> None:
    assert keys.parse_symmetric_secret("my-github-secret").reveal() == b"my-github-secret"
    assert keys.parse_symmetric_secret("sécret").reveal() == "sécret".encode()


def test_raw_secret_refused_when_not_allowed() -> None:
    with pytest.raises(KeyFormatError, match="whsec_"):
        keys.parse_symmetric_secret("plain", allow_raw=False)


@pytest.mark.parametrize("text", ["whsec_!!!notbase64", "whsec_abc", "whsec_YW Jj", "whsec_YW-_"])
def test_whsec_bad_base64(text: str) -> None:
    with pytest.raises(KeyFormatError, match="base64"):
        keys.parse_symmetric_secret(text)


@pytest.mark.parametrize("text", ["", b"", "whsec_"])
def test_empty_secret(text: str | bytes) -> None:
    with pytest.raises(KeyFormatError, match="empty"):
        keys.parse_symmetric_secret(text)


def test_secret_not_utf8() -> None:
    with pytest.raises(KeyFormatError, match="UTF-8"):
        keys.parse_symmetric_secret(b"\xff\xfe\x00")


def test_key_format_error_is_config_error() -> None:
    with pytest.raises(ConfigError):
        keys.parse_symmetric_secret("")


# --- generate ---


def test_generate_hmac() -> None:
    text = keys.generate_key("hmac")
    assert text.startswith("whsec_")
    assert len(keys.parse_symmetric_secret(text)) == 32
    assert keys.generate_key("hmac") != text


@pytest.mark.parametrize("n", [23, 65, 0])
def test_generate_hmac_secret_bounds(n: int) -> None:
    with pytest.raises(KeyFormatError):
        keys.generate_hmac_secret(n)


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ec"])
def test_generate_asymmetric(kind: str) -> None:
    pem = keys.generate_key(kind)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = keys.load_key(pem, private=True)
    assert key.is_private
    assert keys.key_kind(key) == kind
    assert isinstance(key, KEY_CLASSES[kind])


@pytest.mark.parametrize("kind", ["dsa", "RSA", "", "x25519"])
def test_generate_unknown(kind: str) -> None:
    with pytest.raises(KeyFormatError, match="unknown key type"):
        keys.generate_key(kind)


# --- load_key ---


@pytest.mark.parametrize("kind", KINDS)
def test_load_private_pem(kind: str) -> None:
    key = keys.load_key(PRIVATE_PEMS[kind])
    assert key.is_private
    assert keys.key_kind(key) == kind
    assert keys.public_pem(key).strip() == PUBLIC_PEMS[kind].strip()
    # round trip through our own exporter
    again = keys.load_key(keys.private_pem(key).encode("ascii"), private=True)
    assert keys.thumbprint_kid(again) == keys.thumbprint_kid(key)


@pytest.mark.parametrize("kind", KINDS)
def test_load_public_pem(kind: str) -> None:
    key = keys.load_key(PUBLIC_PEMS[kind])
    assert not key.is_private
    assert keys.key_kind(key) == kind
    with pytest.raises(KeyFormatError):
        keys.private_pem(key)


@pytest.mark.parametrize("kind", KINDS)
def test_load_public_pem_private_true_refused(kind: str) -> None:
    with pytest.raises(KeyFormatError, match="private key is required"):
        keys.load_key(PUBLIC_PEMS[kind], private=True)


@pytest.mark.parametrize("kind", KINDS)
def test_private_false_returns_public_half(kind: str) -> None:
    key = keys.load_key(PRIVATE_PEMS[kind], private=False)
    assert not key.is_private
    assert keys.public_pem(key).strip() == PUBLIC_PEMS[kind].strip()
    assert PRIVATE_MEMBERS.isdisjoint(key.as_dict(private=False))


@pytest.mark.parametrize("kind", KINDS)
def test_load_jwk_text_and_dict(kind: str) -> None:
    key = keys.load_key(PRIVATE_PEMS[kind])
    private_jwk = dict(key.as_dict(private=True))
    public_jwk = dict(key.as_dict(private=False))
    from_dict = keys.load_key(private_jwk, private=True)
    from_text = keys.load_key(json.dumps(private_jwk))
    from_pub = keys.load_key(json.dumps(public_jwk).encode("utf-8"))
    assert from_dict.is_private
    assert from_text.is_private
    assert not from_pub.is_private
    tp = keys.thumbprint_kid(key)
    assert keys.thumbprint_kid(from_dict) == tp
    assert keys.thumbprint_kid(from_text) == tp
    assert keys.thumbprint_kid(from_pub) == tp
    with pytest.raises(KeyFormatError):
        keys.load_key(public_jwk, private=True)


def test_load_whsk_and_whpk() -> None:
    seed = bytes(range(32))
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    pub_raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    whsk = "whsk_" + base64.b64encode(seed).decode()
    whsk64 = "whsk_" + base64.b64encode(seed + pub_raw).decode()
    whpk = "whpk_" + base64.b64encode(pub_raw).decode()
    k1 = keys.load_key(whsk, private=True)
    k2 = keys.load_key(whsk64)
    k3 = keys.load_key(whpk)
    assert k1.is_private
    assert k2.is_private
    assert not k3.is_private
    assert keys.key_kind(k1) == "ed25519"
    assert keys.thumbprint_kid(k1) == keys.thumbprint_kid(k2) == keys.thumbprint_kid(k3)
    with pytest.raises(KeyFormatError):
        keys.load_key(whpk, private=True)


@pytest.mark.parametrize(
    "text",
    [
        "whsk_!!!",
        "whsk_" + base64.b64encode(b"x" * 31).decode(),
        "whpk_" + base64.b64encode(b"x" * 33).decode(),
        "whpk_",
    ],
)
def test_bad_standard_webhooks_keys(text: str) -> None:
    with pytest.raises(KeyFormatError):
        keys.load_key(text)


def _rsa1024_pem() -> str:
    return _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505


def _p384_pem() -> str:
    return _pkcs8(ec.generate_private_key(ec.SECP384R1()))


BAD_KEYS: list[object] = [
    "garbage",
    "",
    "   ",
    b"\xff\xfe\xfd",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n",
    PRIVATE_PEMS["rsa"][: len(PRIVATE_PEMS["rsa"]) // 2],
    PUBLIC_PEMS["ec"][:-40],
    "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
    "{not json",
    "[1, 2]",
    '{"kty": "oct", "k": "AAAA"}',
    '{"kty": "RSA"}',
    '{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}',
    {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
    {},
    {"kty": 5},
]


@pytest.mark.parametrize("data", BAD_KEYS, ids=range(len(BAD_KEYS)))
def test_bad_keys_raise_key_format_error(data: object) -> None:
    with pytest.raises(KeyFormatError):
        keys.load_key(data)  # type: ignore[arg-type]


def test_rsa_1024_refused() -> None:
    with pytest.raises(KeyFormatError, match="2048"):
        keys.load_key(_rsa1024_pem())


def test_rsa_1024_jwk_refused() -> None:
    """The RSA size floor must hold for JWK input too, not just PEM."""
    jwk_small = json.loads(jwcrypto_jwk.JWK.from_pem(_rsa1024_pem().encode()).export_public())
    with warnings.catch_warnings():
        # joserfc only warns about small RSA keys; hookgate must refuse them itself
        warnings.simplefilter("ignore", SecurityWarning)
        with pytest.raises(KeyFormatError):
            keys.load_key(jwk_small)


def test_ec_p384_refused() -> None:
    with pytest.raises(KeyFormatError, match="P-256"):
        keys.load_key(_p384_pem())
    pub = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFormatError, match="P-256"):
        keys.load_key(pem)


def test_ec_p384_jwk_refused() -> None:
    jwk_384 = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-384")
    with pytest.raises(KeyFormatError, match="P-256"):
        keys.load_key(jwk_384.export_public())


def test_errors_are_never_plain_value_errors() -> None:
    for data in [*BAD_KEYS, _rsa1024_pem(), _p384_pem(), b"-----BEGIN \xff"]:
        try:
            keys.load_key(data)  # type: ignore[arg-type]
        except KeyFormatError:
            pass
        else:  # pragma: no cover
            pytest.fail(f"no error for {data!r}")


def test_non_utf8_bytes() -> None:
    with pytest.raises(KeyFormatError, match="UTF-8"):
        keys.load_key(b"-----BEGIN PRIVATE KEY-----\xff\xfe")


# --- thumbprint / jwks ---


@pytest.mark.parametrize("kind", KINDS)
def test_thumbprint_matches_jwcrypto(kind: str) -> None:
    key = keys.load_key(PRIVATE_PEMS[kind])
    expected = jwcrypto_jwk.JWK.from_pem(PRIVATE_PEMS[kind].encode()).thumbprint()
    assert keys.thumbprint_kid(key) == expected
    pub = keys.load_key(PUBLIC_PEMS[kind])
    assert keys.thumbprint_kid(pub) == expected
    assert jwcrypto_jwk.JWK.from_pem(PUBLIC_PEMS[kind].encode()).thumbprint() == expected


def test_jwks_document_has_only_public_members() -> None:
    private_keys = [keys.load_key(PRIVATE_PEMS[k]) for k in KINDS]
    doc = keys.jwks_document(private_keys)
    assert len(doc["keys"]) == 3
    text = json.dumps(doc)
    for k in private_keys:
        d = k.as_dict(private=True)["d"]
        assert d not in text
    expected_alg = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}
    for entry, kind, key in zip(doc["keys"], KINDS, private_keys, strict=True):
        assert PRIVATE_MEMBERS.isdisjoint(entry), entry.keys()
        assert entry["kid"] == keys.thumbprint_kid(key)
        assert entry["use"] == "sig"
        assert entry["alg"] == expected_alg[kind]
        # jwcrypto sees a public key with the same thumbprint
        jk = jwcrypto_jwk.JWK(**entry)
        assert not jk.has_private
        assert jk.thumbprint() == entry["kid"]


def test_public_jwk_enc_has_no_default_alg() -> None:
    key = keys.load_key(PRIVATE_PEMS["rsa"])
    jwk = keys.public_jwk(key, use="enc")
    assert jwk["use"] == "enc"
    assert "alg" not in jwk
    assert keys.public_jwk(key, use="enc", alg="RSA-OAEP-256")["alg"] == "RSA-OAEP-256"


@pytest.mark.parametrize("as_type", ["dict", "str", "bytes"])
def test_load_jwks_round_trip(as_type: str) -> None:
    private_keys = [keys.load_key(PRIVATE_PEMS[k]) for k in KINDS]
    doc = keys.jwks_document(private_keys)
    data: object = {"dict": doc, "str": json.dumps(doc), "bytes": json.dumps(doc).encode()}[as_type]
    loaded = keys.load_jwks(data)  # type: ignore[arg-type]
    assert [k.kid for k in loaded] == [keys.thumbprint_kid(k) for k in private_keys]
    assert all(not k.is_private for k in loaded)
    assert [keys.key_kind(k) for k in loaded] == KINDS


def test_load_jwks_keeps_explicit_kid_and_strips_private() -> None:
    key = keys.load_key(PRIVATE_PEMS["ec"])
    entry = dict(key.as_dict(private=True))
    entry["kid"] = "my-kid"
    loaded = keys.load_jwks({"keys": [entry]})
    assert loaded[0].kid == "my-kid"
    assert not loaded[0].is_private


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        "{}",
        '{"keys": {}}',
        '{"keys": [1]}',
        '{"keys": ["x"]}',
        {"keys": [{"kty": "oct", "k": "AAAA"}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]},
    ],
)
def test_load_jwks_errors(data: object) -> None:
    with pytest.raises(KeyFormatError):
        keys.load_jwks(data)  # type: ignore[arg-type]


def test_load_jwks_non_string_kid() -> None:
    entry = keys.public_jwk(keys.load_key(PUBLIC_PEMS["ed25519"]))
    entry["kid"] = 5
    with pytest.raises(KeyFormatError):
        keys.load_jwks({"keys": [entry]})


def test_with_kid_defaults_to_thumbprint() -> None:
    key = keys.load_key(PUBLIC_PEMS["rsa"])
    assert keys.with_kid(key).kid == keys.thumbprint_kid(key)
    assert keys.with_kid(key, "k1").kid == "k1"
    priv = keys.with_kid(keys.load_key(PRIVATE_PEMS["rsa"]), "k2")
    assert priv.is_private
    assert priv.kid == "k2"


def test_unsupported_pem_algorithms() -> None:
    for native in (x25519.X25519PrivateKey.generate(), ed448.Ed448PrivateKey.generate()):
        with pytest.raises(KeyFormatError, match="unsupported"):
            keys.load_key(_pkcs8(native))
        with pytest.raises(KeyFormatError, match="unsupported"):
            keys.load_key(_spki(native))


def test_encrypted_pem_refused() -> None:
    pem = _ED.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(KeyFormatError, match="encrypted"):
        keys.load_key(pem)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.text(max_size=100).map(lambda t: "-----BEGIN PRIVATE KEY-----\n" + t),
        st.text(max_size=60).map(lambda t: "whsk_" + t),
        st.dictionaries(
            st.sampled_from(["kty", "crv", "x", "y", "d", "n", "e", "kid"]),
            st.one_of(st.sampled_from(["RSA", "EC", "OKP", "P-256", "Ed25519", "AQAB"]), st.text(max_size=8)),
        ),
    )
)
def test_load_key_fuzz(data: object) -> None:
    try:
        key = keys.load_key(data)  # type: ignore[arg-type]
    except KeyFormatError as exc:
        assert str(exc)  # noqa: PT017
    else:  # pragma: no cover - random input is never a valid key
        pytest.fail(f"accepted {key!r}")
