"""Tests for static header credentials: API key, Basic, Bearer."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookgate.errors import ConfigError, KeyFormatError, MalformedError, SignatureError, VerificationError
from hookgate.keys import Secret
from hookgate.schemes.credentials import (
    ApiKeySigner,
    ApiKeyVerifier,
    BasicSigner,
    BasicVerifier,
    BearerSigner,
    BearerVerifier,
)

BODY = b'{"ok": true}'
NOW = 1_700_000_000
KEY = "ak_live_7f3c9e1d2b"
KEY2 = "ak_live_next_0a9b8c"
USER = "hooks"
PASSWORD = "p4ss-w0rd!"
TOKEN = "tok_3f9a8b7c6d5e"


def _malformed(verifier: object, headers: dict[str, str], reason: str | None = None) -> None:
    with pytest.raises(MalformedError) as info:
        verifier.verify(BODY, headers, now=NOW)  # type: ignore[attr-defined]
    assert info.value.status_hint == 400
    if reason is not None:
        assert info.value.reason == reason


def _mismatch(verifier: object, headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as info:
        verifier.verify(BODY, headers, now=NOW)  # type: ignore[attr-defined]
    assert info.value.status_hint == 401
    assert info.value.reason == "bad_credentials"


def test_credential_header_names_follow_the_header_rule() -> None:
    with pytest.raises(ConfigError, match="not a valid HTTP header name"):
        ApiKeySigner(KEY, header="X API Key")
    with pytest.raises(ConfigError, match="at most 256"):
        BearerVerifier([TOKEN], header="X" * 257)


# --- API key ---


def test_api_key_round_trip_default_header() -> None:
    signed = ApiKeySigner(KEY).sign(BODY, msg_id="m", now=NOW)
    assert signed.headers == {"X-API-Key": KEY}
    assert signed.body == BODY
    result = ApiKeyVerifier([KEY]).verify(BODY, signed.headers, now=NOW)
    assert result.key_id == "0"
    assert result.payload == BODY


def test_api_key_custom_header_name() -> None:
    signer = ApiKeySigner(KEY, header="X-Hook-Token")
    signed = signer.sign(BODY, msg_id="m", now=NOW)
    assert signed.headers == {"X-Hook-Token": KEY}
    v = ApiKeyVerifier([KEY], header="X-Hook-Token")
    assert v.verify(BODY, {"x-hook-token": KEY}, now=NOW).key_id == "0"
    assert v.verify(BODY, {"X-HOOK-TOKEN": KEY}, now=NOW).key_id == "0"
    # the default header is not looked at when another is configured
    _malformed(v, {"X-API-Key": KEY}, "missing_credentials")


def test_api_key_rotation() -> None:
    v = ApiKeyVerifier([KEY, KEY2, Secret(b"third-key")])
    assert v.verify(BODY, {"X-API-Key": KEY}, now=NOW).key_id == "0"
    assert v.verify(BODY, {"X-API-Key": KEY2}, now=NOW).key_id == "1"
    assert v.verify(BODY, {"X-API-Key": "third-key"}, now=NOW).key_id == "2"


def test_api_key_surrounding_whitespace_in_request_tolerated() -> None:
    assert ApiKeyVerifier([KEY]).verify(BODY, {"X-API-Key": f"  {KEY}\t"}, now=NOW).key_id == "0"


@pytest.mark.parametrize("presented", ["wrong", KEY[:-1], KEY + "x", KEY.upper(), KEY2, "", f"{KEY} {KEY}"])
def test_api_key_wrong_key(presented: str) -> None:
    _mismatch(ApiKeyVerifier([KEY]), {"X-API-Key": presented})


def test_api_key_missing_and_malformed() -> None:
    v = ApiKeyVerifier([KEY])
    _malformed(v, {}, "missing_credentials")
    _malformed(v, {"Authorization": f"Bearer {KEY}"}, "missing_credentials")
    _malformed(v, {"X-API-Key": "kéy"}, "malformed_credentials")
    _malformed(v, {"X-API-Key": "k" * 5000}, "malformed_credentials")


def test_api_key_config_errors() -> None:
    with pytest.raises(ConfigError):
        ApiKeySigner(KEY, header="X API Key")
    with pytest.raises(ConfigError):
        ApiKeyVerifier([KEY], header="X-Key:")
    with pytest.raises(KeyFormatError):
        ApiKeyVerifier([])


@pytest.mark.parametrize(
    "bad", [" leading", "trailing ", "in side", "tab\tkey", "nl\n", "del\x7f", "", b"", b"\x00k"]
)
def test_api_key_with_whitespace_or_control_rejected(bad: str | bytes) -> None:
    with pytest.raises(KeyFormatError):
        ApiKeySigner(bad)
    with pytest.raises(KeyFormatError):
        ApiKeyVerifier([KEY, bad])
    with pytest.raises(KeyFormatError):
        BearerSigner(bad)
    with pytest.raises(KeyFormatError):
        BearerVerifier([bad])


# --- Basic ---


def test_basic_round_trip_and_encoding() -> None:
    signed = BasicSigner(USER, PASSWORD).sign(BODY, msg_id="m", now=NOW)
    value = signed.headers["Authorization"]
    assert value == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    scheme, encoded = value.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == f"{USER}:{PASSWORD}".encode()
    result = BasicVerifier([(USER, PASSWORD)]).verify(BODY, signed.headers, now=NOW)
    assert result.key_id == USER
    assert result.payload == BODY


def test_basic_custom_header_secret_types_and_rotation() -> None:
    signed = BasicSigner("svc", Secret(b"pw-b"), header="X-Auth").sign(BODY, msg_id="m", now=NOW)
    assert set(signed.headers) == {"X-Auth"}
    v = BasicVerifier([("other", "pw-a"), ("svc", b"pw-b")], header="X-Auth")
    assert v.verify(BODY, {"x-auth": signed.headers["X-Auth"]}, now=NOW).key_id == "svc"
    assert (
        v.verify(
            BODY, BasicSigner("other", "pw-a", header="X-Auth").sign(BODY, msg_id="", now=0).headers, now=NOW
        ).key_id
        == "other"
    )


def test_basic_password_may_contain_colon_and_unicode() -> None:
    signed = BasicSigner("u", "a:b:ç").sign(BODY, msg_id="m", now=NOW)
    assert base64.b64decode(signed.headers["Authorization"].split(" ")[1]) == "u:a:b:ç".encode()
    assert BasicVerifier([("u", "a:b:ç")]).verify(BODY, signed.headers, now=NOW).key_id == "u"
    _mismatch(BasicVerifier([("u", "a:b")]), signed.headers)
    _mismatch(BasicVerifier([("ua", "b:ç")]), signed.headers)


def test_basic_scheme_case_insensitive() -> None:
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    v = BasicVerifier([(USER, PASSWORD)])
    for value in (f"basic {encoded}", f"BASIC {encoded}", f"Basic  {encoded}"):
        assert v.verify(BODY, {"Authorization": value}, now=NOW).key_id == USER


def test_basic_wrong_password_and_user() -> None:
    v = BasicVerifier([(USER, PASSWORD)])
    _mismatch(v, BasicSigner(USER, "wrong").sign(BODY, msg_id="", now=0).headers)
    _mismatch(v, BasicSigner("other", PASSWORD).sign(BODY, msg_id="", now=0).headers)
    _mismatch(v, BasicSigner(USER.upper(), PASSWORD).sign(BODY, msg_id="", now=0).headers)
    _mismatch(v, {"Authorization": "Basic " + base64.b64encode(f"{USER}:".encode()).decode()})


@pytest.mark.parametrize(
    "value",
    [
        "Basic !!notbase64!!",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b"hooks:pw").decode()[:-1],
        "Basic",
        "Basic ",
        "Bearer " + base64.b64encode(b"hooks:pw").decode(),
        base64.b64encode(b"hooks:pw").decode(),
        "Digest username=hooks",
        "Basic é",
    ],
)
def test_basic_malformed(value: str) -> None:
    _malformed(BasicVerifier([(USER, PASSWORD)]), {"Authorization": value}, "malformed_credentials")


def test_basic_missing_and_config_errors() -> None:
    _malformed(BasicVerifier([(USER, PASSWORD)]), {}, "missing_credentials")
    with pytest.raises(KeyFormatError):
        BasicSigner("a:b", PASSWORD)
    with pytest.raises(KeyFormatError):
        BasicSigner("", PASSWORD)
    with pytest.raises(KeyFormatError):
        BasicVerifier([])
    with pytest.raises(KeyFormatError):
        BasicVerifier([("a:b", PASSWORD)])
    with pytest.raises(ConfigError):
        BasicSigner(USER, PASSWORD, header="Auth orization")


# --- Bearer ---


def test_bearer_round_trip() -> None:
    signed = BearerSigner(TOKEN).sign(BODY, msg_id="m", now=NOW)
    assert signed.headers == {"Authorization": f"Bearer {TOKEN}"}
    v = BearerVerifier(["old-token", TOKEN])
    assert v.verify(BODY, signed.headers, now=NOW).key_id == "1"
    assert v.verify(BODY, {"authorization": f"bearer {TOKEN}"}, now=NOW).key_id == "1"
    assert v.verify(BODY, {"Authorization": "Bearer old-token"}, now=NOW).key_id == "0"


def test_bearer_custom_header() -> None:
    signed = BearerSigner(TOKEN, header="X-Upstream-Auth").sign(BODY, msg_id="m", now=NOW)
    assert signed.headers == {"X-Upstream-Auth": f"Bearer {TOKEN}"}
    v = BearerVerifier([TOKEN], header="X-Upstream-Auth")
    assert v.verify(BODY, signed.headers, now=NOW).key_id == "0"
    _malformed(v, {"Authorization": f"Bearer {TOKEN}"}, "missing_credentials")


@pytest.mark.parametrize("token", ["wrong", TOKEN[:-1], TOKEN + "0", TOKEN.upper(), f"{TOKEN} extra"])
def test_bearer_wrong_token(token: str) -> None:
    _mismatch(BearerVerifier([TOKEN]), {"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "value",
    [
        "Basic " + base64.b64encode(f"x:{TOKEN}".encode()).decode(),
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        "Bearer ",
        f"Token {TOKEN}",
        f"Bearer {TOKEN}é",
    ],
)
def test_bearer_malformed(value: str) -> None:
    _malformed(BearerVerifier([TOKEN]), {"Authorization": value})


def test_bearer_missing() -> None:
    _malformed(BearerVerifier([TOKEN]), {}, "missing_credentials")
    with pytest.raises(KeyFormatError):
        BearerVerifier([])


# --- reprs ---


def test_reprs_never_show_secrets() -> None:
    basic_b64 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    objects = [
        ApiKeySigner(KEY),
        ApiKeyVerifier([KEY, KEY2]),
        BasicSigner(USER, PASSWORD),
        BasicVerifier([(USER, PASSWORD)]),
        BearerSigner(TOKEN),
        BearerVerifier([TOKEN]),
    ]
    for obj in objects:
        text = repr(obj)
        assert "redacted" in text
        for secret in (KEY, KEY2, PASSWORD, TOKEN, basic_b64):
            assert secret not in text
        assert not hasattr(obj, "__dict__")


# --- property tests ---

_VERIFIERS = (
    ApiKeyVerifier([KEY, KEY2]),
    ApiKeyVerifier([KEY], header="Authorization"),
    BasicVerifier([(USER, PASSWORD)]),
    BearerVerifier([TOKEN]),
)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.one_of(
            st.sampled_from(["Authorization", "authorization", "X-API-Key", "x-api-key"]),
            st.text(max_size=10),
        ),
        st.one_of(
            st.text(),
            st.from_regex(r"\A(Basic|Bearer|basic|BEARER)( +[A-Za-z0-9+/=:._-]{0,40})?\Z"),
            st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=40)),
        ),
        max_size=4,
    ),
    verifier=st.sampled_from(_VERIFIERS),
)
def test_property_arbitrary_headers_only_raise_verification_errors(
    headers: dict[str, str], verifier: object
) -> None:
    with pytest.raises(VerificationError):
        verifier.verify(BODY, headers, now=NOW)  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None)
@given(
    user=st.text(min_size=1, max_size=20).filter(lambda u: ":" not in u),
    password=st.text(max_size=30),
)
def test_property_basic_round_trip(user: str, password: str) -> None:
    signed = BasicSigner(user, password).sign(BODY, msg_id="", now=NOW)
    assert BasicVerifier([(user, password)]).verify(BODY, signed.headers, now=NOW).key_id == user
