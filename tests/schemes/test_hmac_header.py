"""Tests for the configurable single-header HMAC scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookgate.errors import (
    ConfigError,
    KeyFormatError,
    MalformedError,
    SignatureError,
    TimestampError,
    VerificationError,
)
from hookgate.keys import Secret
from hookgate.schemes.hmac_header import HmacConfig, HmacSigner, HmacVerifier

SECRET = "s3cr3t-key"
OTHER = "another-key"
BODY = b'{"action": "opened", "number": 7}'
NOW = 1_700_000_000


def _expected(config: HmacConfig, secret: str, content: bytes) -> str:
    digest = hmac.new(secret.encode(), content, getattr(hashlib, config.algorithm)).digest()
    encoded = digest.hex() if config.encoding == "hex" else base64.b64encode(digest).decode()
    return config.prefix + encoded


# --- configuration validation ---


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"header": "X Signature"}, "header"),
        ({"header": ""}, "header"),
        ({"header": "X-Sig:"}, "header"),
        ({"header": "X-Sïg"}, "header"),
        ({"timestamp_header": "bad header", "template": "{timestamp}.{body}"}, "timestamp_header"),
        ({"id_header": "bad(id)", "template": "{id}.{body}"}, "id_header"),
        ({"algorithm": "md5"}, "algorithm"),
        ({"algorithm": "SHA256"}, "algorithm"),
        ({"algorithm": "sha1"}, "algorithm"),
        ({"encoding": "base32"}, "encoding"),
        ({"encoding": "HEX"}, "encoding"),
        ({"template": "{timestamp}"}, "body"),
        ({"template": "static"}, "body"),
        ({"template": "{body}{body}"}, "body"),
        ({"template": "{timestamp}.{body}"}, "timestamp_header"),
        ({"template": "{id}.{body}"}, "id_header"),
        ({"template": "{nonce}.{body}"}, "placeholders"),
        ({"template": "{body}.{"}, "placeholders"),
        ({"template": "}{body}"}, "placeholders"),
        ({"template": "{ID}.{body}", "id_header": "X-Id"}, "placeholders"),
        ({"tolerance": -1}, "tolerance"),
        # issue 10 items 15 and 16: values that broke every signature, wrong types that crashed
        ({"prefix": "sha256=\x0b"}, r"prefix: header 'X-Signature': the value contains a control character"),
        ({"prefix": " sha256="}, r"prefix: .*must not start or end with a space"),
        ({"prefix": "é="}, r"prefix: .*non-ASCII"),
        ({"prefix": 5}, r"prefix must be a string, not int"),
        ({"header": "X" * 257}, r"header: header name .* at most 256"),
        ({"algorithm": ["sha256"]}, r"algorithm must be one of"),
        ({"encoding": {}}, r"encoding must be one of"),
        ({"template": 7}, r"template must be a string, not int"),
        ({"tolerance": float("nan")}, r"tolerance must be a whole number of seconds, at least 0, not nan"),
        ({"tolerance": 1.5}, r"tolerance must be a whole number of seconds"),
        ({"tolerance": True}, r"tolerance must be a whole number of seconds"),
    ],
)
def test_config_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HmacConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["header", "timestamp_header", "id_header"])
def test_header_name_with_trailing_newline_rejected(field: str) -> None:
    with pytest.raises(ConfigError):
        HmacConfig(**{field: "X-Sig\n"})  # type: ignore[arg-type]


def test_config_defaults_and_flags() -> None:
    cfg = HmacConfig()
    assert (cfg.header, cfg.algorithm, cfg.encoding, cfg.prefix, cfg.template) == (
        "X-Signature",
        "sha256",
        "hex",
        "",
        "{body}",
    )
    assert not cfg.uses_timestamp
    assert not cfg.uses_id
    full = HmacConfig(template="{id}:{timestamp}:{body}", timestamp_header="X-Ts", id_header="X-Id")
    assert full.uses_timestamp
    assert full.uses_id
    assert full.split_template("abc", 12) == (b"abc:12:", b"")


def test_config_is_frozen() -> None:
    cfg = HmacConfig()
    with pytest.raises(AttributeError):
        cfg.header = "X-Other"  # type: ignore[misc]


def test_empty_secret_list_rejected() -> None:
    with pytest.raises(KeyFormatError):
        HmacSigner(HmacConfig(), [])
    with pytest.raises(KeyFormatError):
        HmacVerifier(HmacConfig(), [])
    with pytest.raises(KeyFormatError):
        HmacVerifier(HmacConfig(), [""])


# --- round trips ---


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256=", "v0="])
def test_round_trip(algorithm: str, encoding: str, prefix: str) -> None:
    cfg = HmacConfig(header="X-Sig", algorithm=algorithm, encoding=encoding, prefix=prefix)
    signed = HmacSigner(cfg, [SECRET]).sign(BODY, msg_id="ignored", now=NOW)
    assert signed.headers == {"X-Sig": _expected(cfg, SECRET, BODY)}
    assert signed.body == BODY
    digest_len = 64 if algorithm == "sha256" else 128
    value = signed.headers["X-Sig"].removeprefix(prefix)
    assert len(value) == (
        digest_len if encoding == "hex" else len(base64.b64encode(b"\0" * (digest_len // 2)))
    )
    result = HmacVerifier(cfg, [SECRET]).verify(BODY, signed.headers, now=NOW)
    assert result.payload == BODY
    assert result.key_id == "0"
    assert result.msg_id is None
    assert result.timestamp is None
    with pytest.raises(SignatureError):
        HmacVerifier(cfg, [OTHER]).verify(BODY, signed.headers, now=NOW)
    with pytest.raises(SignatureError):
        HmacVerifier(cfg, [SECRET]).verify(BODY + b"x", signed.headers, now=NOW)


def test_case_insensitive_header_lookup() -> None:
    cfg = HmacConfig(header="X-Sig")
    value = _expected(cfg, SECRET, BODY)
    for name in ("x-sig", "X-SIG", "x-Sig"):
        assert HmacVerifier(cfg, [SECRET]).verify(BODY, {name: value}, now=NOW).key_id == "0"


def test_uppercase_hex_accepted() -> None:
    cfg = HmacConfig(header="X-Sig", prefix="sha256=")
    value = _expected(cfg, SECRET, BODY)
    upper = "sha256=" + value.removeprefix("sha256=").upper()
    assert upper != value
    assert HmacVerifier(cfg, [SECRET]).verify(BODY, {"X-Sig": upper}, now=NOW).key_id == "0"


def test_base64_is_case_sensitive() -> None:
    cfg = HmacConfig(header="X-Sig", encoding="base64")
    value = _expected(cfg, SECRET, BODY)
    swapped = value.swapcase()
    assert swapped != value
    with pytest.raises(SignatureError):
        HmacVerifier(cfg, [SECRET]).verify(BODY, {"X-Sig": swapped}, now=NOW)


def test_prefix_is_required() -> None:
    cfg = HmacConfig(header="X-Sig", prefix="sha256=")
    bare = _expected(cfg, SECRET, BODY).removeprefix("sha256=")
    with pytest.raises(MalformedError) as info:
        HmacVerifier(cfg, [SECRET]).verify(BODY, {"X-Sig": bare}, now=NOW)
    assert info.value.reason == "bad_signature_header"
    with pytest.raises(MalformedError):
        HmacVerifier(cfg, [SECRET]).verify(BODY, {"X-Sig": "sha1=" + bare}, now=NOW)


def test_template_with_id_and_timestamp() -> None:
    cfg = HmacConfig(
        header="X-Sig",
        template="{id}.{timestamp}.{body}!",
        timestamp_header="X-Timestamp",
        id_header="X-Id",
    )
    signed = HmacSigner(cfg, [SECRET]).sign(BODY, msg_id="evt_1", now=NOW + 0.7)
    assert signed.headers == {
        "X-Sig": _expected(cfg, SECRET, f"evt_1.{NOW}.".encode() + BODY + b"!"),
        "X-Timestamp": str(NOW),
        "X-Id": "evt_1",
    }
    v = HmacVerifier(cfg, [SECRET])
    result = v.verify(BODY, signed.headers, now=NOW)
    assert (result.msg_id, result.timestamp, result.key_id) == ("evt_1", NOW, "0")

    for name, value in (("X-Id", "evt_2"), ("X-Timestamp", str(NOW + 1))):
        headers = dict(signed.headers)
        headers[name] = value
        with pytest.raises(SignatureError):
            v.verify(BODY, headers, now=NOW)
    for name in ("X-Id", "X-Timestamp"):
        headers = {k: val for k, val in signed.headers.items() if k != name}
        with pytest.raises(MalformedError) as info:
            v.verify(BODY, headers, now=NOW)
        assert info.value.reason == "missing_header"


def test_timestamp_window() -> None:
    cfg = HmacConfig(header="X-Sig", template="{timestamp}:{body}", timestamp_header="X-Ts", tolerance=60)
    signer = HmacSigner(cfg, [SECRET])
    v = HmacVerifier(cfg, [SECRET])
    for offset in (-60, 0, 60):
        assert (
            v.verify(BODY, signer.sign(BODY, msg_id="", now=NOW + offset).headers, now=NOW).timestamp
            == NOW + offset
        )
    for offset, reason in ((-61, "timestamp_too_old"), (61, "timestamp_in_future")):
        with pytest.raises(TimestampError) as info:
            v.verify(BODY, signer.sign(BODY, msg_id="", now=NOW + offset).headers, now=NOW)
        assert info.value.reason == reason


@pytest.mark.parametrize("ts", ["", "abc", "1.5", "-5", "1" * 13, "١٢٣"])
def test_bad_timestamp(ts: str) -> None:
    cfg = HmacConfig(header="X-Sig", template="{timestamp}:{body}", timestamp_header="X-Ts")
    headers = dict(HmacSigner(cfg, [SECRET]).sign(BODY, msg_id="", now=NOW).headers)
    headers["X-Ts"] = ts
    with pytest.raises(MalformedError) as info:
        HmacVerifier(cfg, [SECRET]).verify(BODY, headers, now=NOW)
    assert info.value.reason == "bad_timestamp"
    assert info.value.status_hint == 400


def test_rotation_signer_and_verifier() -> None:
    cfg = HmacConfig(header="X-Sig", prefix="sha256=")
    signed = HmacSigner(cfg, [SECRET, OTHER]).sign(BODY, msg_id="", now=NOW)
    assert signed.headers["X-Sig"] == f"{_expected(cfg, SECRET, BODY)}, {_expected(cfg, OTHER, BODY)}"
    assert HmacVerifier(cfg, [SECRET]).verify(BODY, signed.headers, now=NOW).key_id == "0"
    assert HmacVerifier(cfg, [OTHER]).verify(BODY, signed.headers, now=NOW).key_id == "0"
    assert HmacVerifier(cfg, ["third", OTHER]).verify(BODY, signed.headers, now=NOW).key_id == "1"
    with pytest.raises(SignatureError):
        HmacVerifier(cfg, ["third"]).verify(BODY, signed.headers, now=NOW)


def test_rotation_comma_separated_values_any_order_and_spacing() -> None:
    cfg = HmacConfig(header="X-Sig", encoding="base64")
    good = _expected(cfg, OTHER, BODY)
    bogus = base64.b64encode(b"\0" * 32).decode()
    v = HmacVerifier(cfg, [SECRET, OTHER])
    for value in (f"{bogus},{good}", f"{good} ,  {bogus}", f" {bogus},{bogus},{good} "):
        assert v.verify(BODY, {"X-Sig": value}, now=NOW).key_id == "1"


def test_secret_object_and_bytes_accepted() -> None:
    cfg = HmacConfig(header="X-Sig")
    signed = HmacSigner(cfg, [Secret(SECRET.encode())]).sign(BODY, msg_id="", now=NOW)
    assert HmacVerifier(cfg, [SECRET.encode()]).verify(BODY, signed.headers, now=NOW).key_id == "0"


@pytest.mark.parametrize(
    ("headers", "error", "reason"),
    [
        ({}, MalformedError, "missing_header"),
        ({"X-Other": "abc"}, MalformedError, "missing_header"),
        ({"X-Sig": "sha256=" + "é" * 64}, MalformedError, "bad_signature_header"),
        ({"X-Sig": "sha256=" + "a" * 3000}, MalformedError, "bad_signature_header"),
        ({"X-Sig": "md5=abc"}, MalformedError, "bad_signature_header"),
        ({"X-Sig": "sha256="}, SignatureError, "signature_mismatch"),
        ({"X-Sig": "sha256=zz"}, SignatureError, "signature_mismatch"),
    ],
)
def test_malformed_and_wrong(headers: dict[str, str], error: type[VerificationError], reason: str) -> None:
    cfg = HmacConfig(header="X-Sig", prefix="sha256=")
    with pytest.raises(error) as info:
        HmacVerifier(cfg, [SECRET]).verify(BODY, headers, now=NOW)
    assert type(info.value) is error
    assert info.value.reason == reason


def test_reprs_never_show_secrets() -> None:
    cfg = HmacConfig(header="X-Sig")
    for obj in (HmacSigner(cfg, [SECRET, OTHER]), HmacVerifier(cfg, [SECRET, OTHER])):
        text = repr(obj)
        assert "X-Sig" in text
        assert "redacted" in text
        assert SECRET not in text
        assert OTHER not in text


# --- property tests ---

_CONFIGS = (
    HmacConfig(header="X-Sig", prefix="sha256="),
    HmacConfig(header="X-Sig", encoding="base64", algorithm="sha512"),
    HmacConfig(header="X-Sig", template="{id}.{timestamp}.{body}", timestamp_header="X-Ts", id_header="X-Id"),
)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.one_of(st.sampled_from(["X-Sig", "x-sig", "X-Ts", "X-Id", "x-id"]), st.text(max_size=10)),
        st.one_of(
            st.text(),
            st.from_regex(r"\A(sha256=)?[0-9a-fA-F]{0,70}(, ?(sha256=)?[0-9a-f]{0,70})?\Z"),
            st.just(str(NOW)),
        ),
        max_size=6,
    ),
    body=st.binary(max_size=64),
    config=st.sampled_from(_CONFIGS),
)
def test_property_arbitrary_headers_only_raise_verification_errors(
    headers: dict[str, str], body: bytes, config: HmacConfig
) -> None:
    with pytest.raises(VerificationError):
        HmacVerifier(config, [SECRET, OTHER]).verify(body, headers, now=NOW)


@settings(max_examples=100, deadline=None)
@given(
    msg_id=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    body=st.binary(max_size=64),
)
def test_property_id_template_round_trip(msg_id: str, body: bytes) -> None:
    cfg = _CONFIGS[2]
    signed = HmacSigner(cfg, [SECRET]).sign(body, msg_id=msg_id, now=NOW)
    result = HmacVerifier(cfg, [SECRET]).verify(body, signed.headers, now=NOW)
    assert result.msg_id == (msg_id or None)
    assert result.payload == body


@pytest.mark.parametrize("msg_id", ["evt\x1f", "évt", "evt_\udc80"])
def test_signer_refuses_ids_that_are_not_printable_ascii(msg_id: str) -> None:
    with pytest.raises(VerificationError):
        HmacSigner(_CONFIGS[2], [SECRET]).sign(BODY, msg_id=msg_id, now=NOW)


def test_id_header_with_lone_surrogate_is_a_verification_error() -> None:
    cfg = _CONFIGS[2]
    headers = {"X-Sig": "00", "X-Ts": str(NOW), "X-Id": "evt_\udc80"}
    with pytest.raises(VerificationError):
        HmacVerifier(cfg, [SECRET]).verify(BODY, headers, now=NOW)
