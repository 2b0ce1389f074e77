"""Endpoint configuration sections (config.endpoint): validation, the public/secret split, and reassembly at
delivery time (outbound.security)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import trustme

from hookgate.config.endpoint import EndpointConfig
from hookgate.config.references import is_reference, resolve_secret
from hookgate.config.sections import AUTH_TYPES, ApiKeyAuth, JsonPayload, JwsPayload
from hookgate.errors import ConfigError
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.outbound.security import Security, load_security
from hookgate.schemes.oauth2 import ClientCredentials
from hookgate.tls import TlsSettings
from hookgate.vault import EndpointSecrets, SecretEntry

NOW = time.time()
JWT_SECRET = "a-very-long-shared-jwt-secret-0123456789"

# per auth type: (config, the secret value, the field the secret lives in)
AUTH_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "api_key": ({"type": "api_key", "header": "X-Api-Token", "key": "k-secret-123"}, "k-secret-123", "key"),
    "basic": (
        {"type": "basic", "username": "shop", "password": "pw-secret-456"},
        "pw-secret-456",
        "password",
    ),
    "oauth2": (
        {
            "type": "oauth2",
            "token_url": "https://auth.example.com/token",
            "client_id": "client-1",
            "client_secret": "cs-secret-789",
            "scope": "webhooks",
            "audience": "https://api.example.com",
            "auth_method": "client_secret_post",
        },
        "cs-secret-789",
        "client_secret",
    ),
    "jwt": (
        {"type": "jwt", "secret": JWT_SECRET, "issuer": "hookgate", "audience": "shop", "lifetime": 120},
        JWT_SECRET,
        "secret",
    ),
    "bearer": ({"type": "bearer", "token": "tok-secret-000"}, "tok-secret-000", "token"),
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_pair(ca: trustme.CA) -> tuple[str, str]:
    cert = ca.issue_cert("client.example")
    return cert.cert_chain_pems[0].bytes().decode("ascii"), cert.private_key_pem.bytes().decode("ascii")


def _public(kind: str) -> str:
    return public_pem(load_key(generate_key(kind), private=True))


def _parse(
    auth: Any = None, payload: Any = None, tls: Any = None
) -> tuple[EndpointConfig, list[SecretEntry]]:
    values = {
        "url": "https://example.com/hook",
        "scheme": "none",
        "auth": auth,
        "payload": payload,
        "tls": tls,
    }
    parsed = EndpointConfig.parse(values, now=NOW)
    return parsed.config, list(parsed.secrets.entries)


def _split(
    auth: Any = None, payload: Any = None, tls: Any = None
) -> tuple[dict[str, Any], list[SecretEntry]]:
    """The stored sections (what differs from the defaults) and the secrets to seal."""
    config, entries = _parse(auth, payload, tls)
    return config.sections(), entries


def _roundtrip(auth: Any = None, payload: Any = None, tls: Any = None) -> Security:
    config, entries = _parse(auth, payload, tls)
    return load_security(config, EndpointSecrets(tuple(entries)))


def _raises(match: str, auth: Any = None, payload: Any = None, tls: Any = None) -> ConfigError:
    with pytest.raises(ConfigError, match=match) as info:
        _parse(auth, payload, tls)
    return info.value


# --- the split ---


def test_no_options_give_empty_settings_and_no_secrets() -> None:
    assert _split() == ({}, [])
    assert _split({"type": "none"}, {"format": "json"}, {}) == ({}, [])
    sec = _roundtrip()
    assert sec.auth.type == "none"
    assert sec.payload.format == "json"
    assert sec.auth_signer() is None
    assert sec.oauth2() is None
    assert sec.tls == TlsSettings()


@pytest.mark.parametrize("auth_type", sorted(AUTH_CASES))
def test_secret_goes_to_an_auth_entry_not_to_settings(auth_type: str) -> None:
    config, secret, field = AUTH_CASES[auth_type]
    settings, entries = _parse(dict(config))
    assert entries == [SecretEntry(secret, "auth")]
    assert secret not in repr(settings)
    assert field not in settings.sections()["auth"]
    public = {k: v for k, v in config.items() if k != field}
    assert settings.sections() == {"auth": public}


@pytest.mark.parametrize("auth_type", sorted(AUTH_CASES))
def test_load_security_puts_the_secret_back_under_its_field(auth_type: str) -> None:
    config, secret, field = AUTH_CASES[auth_type]
    sec = _roundtrip(dict(config))
    assert sec.auth.type == auth_type
    assert sec.credential == secret
    for key, value in config.items():
        if key not in ("type", field):  # the secret is the credential, never a field of the section
            assert getattr(sec.auth, key) == value
    assert secret not in repr(sec)


def test_parse_does_not_mutate_the_callers_mappings() -> None:
    config = dict(AUTH_CASES["api_key"][0])
    tls: dict[str, Any] = {"min_version": "1.3"}
    payload = {"format": "jws"}
    _parse(config, payload, tls)
    assert config == AUTH_CASES["api_key"][0]
    assert payload == {"format": "jws"}
    assert tls == {"min_version": "1.3"}


def test_all_auth_types_are_covered() -> None:
    assert set(AUTH_TYPES) == set(AUTH_CASES) | {"none"}


# --- signers after the round trip ---


def test_api_key_signer_header() -> None:
    signed = _roundtrip(AUTH_CASES["api_key"][0]).auth_signer()
    assert signed is not None
    out = signed.sign(b"{}", msg_id="m1", now=NOW)
    assert out.headers == {"X-Api-Token": "k-secret-123"}
    assert out.body == b"{}"


def test_api_key_default_header_is_x_api_key() -> None:
    signer = _roundtrip({"type": "api_key", "header": "X-API-Key", "key": "abc"}).auth_signer()
    assert signer is not None
    assert signer.sign(b"", msg_id="m", now=NOW).headers == {"X-API-Key": "abc"}
    # a Security built with an empty header falls back to X-API-Key
    sec = Security(ApiKeyAuth(header=""), "abc", JsonPayload(), TlsSettings())
    fallback = sec.auth_signer()
    assert fallback is not None
    assert fallback.sign(b"", msg_id="m", now=NOW).headers == {"X-API-Key": "abc"}


def test_basic_signer_header() -> None:
    signer = _roundtrip(AUTH_CASES["basic"][0]).auth_signer()
    assert signer is not None
    headers = signer.sign(b"x", msg_id="m", now=NOW).headers
    expected = "Basic " + base64.b64encode(b"shop:pw-secret-456").decode("ascii")
    assert headers == {"Authorization": expected}


def test_basic_signer_custom_header() -> None:
    auth = {"type": "basic", "header": "Proxy-Authorization", "username": "u", "password": "p"}
    signer = _roundtrip(auth).auth_signer()
    assert signer is not None
    assert list(signer.sign(b"", msg_id="m", now=NOW).headers) == ["Proxy-Authorization"]


def test_bearer_signer_header() -> None:
    signer = _roundtrip(AUTH_CASES["bearer"][0]).auth_signer()
    assert signer is not None
    assert signer.sign(b"", msg_id="m", now=NOW).headers == {"Authorization": "Bearer tok-secret-000"}


def test_jwt_signer_header_carries_a_verifiable_hs256_token() -> None:
    signer = _roundtrip(AUTH_CASES["jwt"][0]).auth_signer()
    assert signer is not None
    headers = signer.sign(b'{"a":1}', msg_id="msg_1", now=NOW).headers
    assert list(headers) == ["Authorization"]
    scheme, token = headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    assert pyjwt.get_unverified_header(token)["alg"] == "HS256"
    claims = pyjwt.decode(
        token,
        JWT_SECRET,
        algorithms=["HS256"],
        audience="shop",
        issuer="hookgate",
        options={"verify_exp": False},
    )
    assert claims["exp"] - claims["iat"] == 120
    assert claims["webhook_id"] == "msg_1"


def test_jwt_default_lifetime_is_60() -> None:
    signer = _roundtrip({"type": "jwt", "secret": JWT_SECRET}).auth_signer()
    assert signer is not None
    token = signer.sign(b"", msg_id="m", now=NOW).headers["Authorization"].split(" ", 1)[1]
    claims = pyjwt.decode(token, JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 60
    assert "iss" not in claims
    assert "aud" not in claims


def test_oauth2_gives_client_credentials() -> None:
    sec = _roundtrip(AUTH_CASES["oauth2"][0])
    assert sec.auth_signer() is None
    creds = sec.oauth2()
    assert isinstance(creds, ClientCredentials)
    assert creds.token_url == "https://auth.example.com/token"
    assert creds.client_id == "client-1"
    assert creds.client_secret.reveal() == b"cs-secret-789"
    assert creds.scope == "webhooks"
    assert creds.audience == "https://api.example.com"
    assert creds.auth_method == "client_secret_post"
    assert creds.header == "Authorization"


def test_oauth2_defaults() -> None:
    auth = {"type": "oauth2", "token_url": "https://a.example/t", "client_id": "c", "client_secret": "s"}
    creds = _roundtrip(auth).oauth2()
    assert creds is not None
    assert creds.auth_method == "client_secret_basic"
    assert creds.scope is None
    assert creds.audience is None
    assert creds.header == "Authorization"


def test_non_oauth2_has_no_client_credentials() -> None:
    assert _roundtrip(AUTH_CASES["bearer"][0]).oauth2() is None


def test_load_security_without_the_stored_credential() -> None:
    settings, _ = _parse(AUTH_CASES["bearer"][0])
    with pytest.raises(ConfigError, match="no stored credential"):
        load_security(settings, EndpointSecrets())


# --- payload ---


def test_payload_json_is_not_stored() -> None:
    assert _split(payload={"format": "json"}) == ({}, [])


def test_payload_jws_settings_round_trip() -> None:
    settings, entries = _parse(payload={"format": "jws"})
    assert settings.sections() == {"payload": {"format": "jws"}}
    assert entries == []
    sec = load_security(settings, EndpointSecrets())
    assert sec.payload.format == "jws"
    assert sec.payload == JwsPayload()
    assert sec.needs_signing_key()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_payload_jwe_settings_round_trip(kind: str) -> None:
    pem = _public(kind)
    settings, entries = _parse(payload={"format": "jwe", "public_key": pem, "sign": True})
    assert settings.sections() == {"payload": {"format": "jwe", "public_key": pem, "sign": True}}
    assert entries == []
    sec = load_security(settings, EndpointSecrets())
    assert sec.payload.format == "jwe"
    assert sec.jwe is not None
    assert sec.jwe.public_key == pem
    assert sec.needs_signing_key()
    unsigned = _roundtrip(payload={"format": "jwe", "public_key": pem})
    assert not unsigned.needs_signing_key()


# --- TLS ---


def test_tls_client_key_goes_to_a_tls_key_entry(client_pair: tuple[str, str], ca: trustme.CA) -> None:
    cert, key = client_pair
    bundle = ca.cert_pem.bytes().decode("ascii")
    tls = {"client_cert": cert, "client_key": key, "ca_bundle": bundle, "min_version": "1.3"}
    settings, entries = _parse(tls=tls)
    assert entries == [SecretEntry(key, "tls_key")]
    assert settings.sections() == {"tls": {"client_cert": cert, "ca_bundle": bundle, "min_version": "1.3"}}
    assert "PRIVATE KEY" not in repr(settings)
    sec = load_security(settings, EndpointSecrets(tuple(entries)))
    assert sec.tls == TlsSettings(cert, key, bundle, "1.3")
    assert "PRIVATE KEY" not in repr(sec.tls)
    assert "PRIVATE KEY" not in repr(sec)
    assert "<redacted>" in repr(sec.tls)


def test_auth_and_tls_secrets_are_separate_entries(client_pair: tuple[str, str]) -> None:
    cert, key = client_pair
    settings, entries = _parse(AUTH_CASES["api_key"][0], None, {"client_cert": cert, "client_key": key})
    assert sorted(e.kind for e in entries) == ["auth", "tls_key"]
    sec = load_security(settings, EndpointSecrets(tuple(entries)))
    assert sec.credential == "k-secret-123"
    assert sec.tls.client_key == key


def test_tls_min_version_only() -> None:
    settings, entries = _parse(tls={"min_version": "1.3"})
    assert settings.sections() == {"tls": {"min_version": "1.3"}}
    assert entries == []
    assert _roundtrip(tls={"min_version": "1.3"}).tls.min_version == "1.3"


def test_repr_of_security_has_no_secret(client_pair: tuple[str, str]) -> None:
    cert, key = client_pair
    for auth_type, (config, secret, _) in AUTH_CASES.items():
        sec = _roundtrip(config, None, {"client_cert": cert, "client_key": key})
        text = repr(sec)
        assert secret not in text, auth_type
        assert "PRIVATE KEY" not in text
        assert auth_type in text


def test_tls_settings_repr_redacts_the_key(client_pair: tuple[str, str]) -> None:
    cert, key = client_pair
    text = repr(TlsSettings(cert, key, None, "1.2"))
    assert key not in text
    assert "PRIVATE" not in text
    assert "CERTIFICATE" not in text
    assert repr(TlsSettings()) == (
        "TlsSettings(client_cert=None, client_key=None, ca_bundle=None, min_version='1.2')"
    )


# --- validation errors ---


def test_unknown_auth_type() -> None:
    _raises(r"auth\.type must be one of", {"type": "digest"})


def test_auth_must_be_a_mapping() -> None:
    _raises("auth must be a mapping", ["api_key"])
    _raises("payload must be a mapping", None, "jws")
    _raises("tls must be a mapping", None, None, "1.3")


@pytest.mark.parametrize("auth_type", sorted(AUTH_CASES))
def test_unknown_auth_field(auth_type: str) -> None:
    config = {**AUTH_CASES[auth_type][0], "colour": "blue"}
    _raises(rf"auth \({auth_type}\) has unknown field\(s\) colour", config)


def test_none_takes_no_fields() -> None:
    _raises(r"auth \(none\) has unknown field\(s\) header", {"type": "none", "header": "X-A"})


@pytest.mark.parametrize("auth_type", sorted(AUTH_CASES))
def test_missing_required_field(auth_type: str) -> None:
    config, _, field = AUTH_CASES[auth_type]
    without = {k: v for k, v in config.items() if k != field}
    _raises(rf"auth \({auth_type}\) needs {field}", without)
    _raises(rf"auth \({auth_type}\) needs {field}", {**without, field: ""})


def test_missing_several_fields_are_all_named() -> None:
    _raises(r"needs client_id, client_secret, token_url", {"type": "oauth2"})


@pytest.mark.parametrize("value", [123, ["x"], {"a": "b"}, True])
def test_non_string_values(value: object) -> None:
    _raises(r"auth\.key must be a non-empty string", {"type": "api_key", "header": "X-K", "key": value})
    _raises(r"auth\.header must be a non-empty string", {"type": "bearer", "token": "t", "header": value})
    _raises(
        r"auth\.username must be a non-empty string", {"type": "basic", "username": value, "password": "p"}
    )


def test_invalid_header_name() -> None:
    _raises("not a valid HTTP header name", {"type": "api_key", "header": "X Bad", "key": "k"})
    _raises("not a valid HTTP header name", {"type": "bearer", "header": "X:Y", "token": "t"})


@pytest.mark.parametrize("lifetime", [True, False, 0, 3601, -5, 1.5, "60"])
def test_jwt_lifetime_out_of_range(lifetime: object) -> None:
    _raises(r"auth\.lifetime must be an integer", {"type": "jwt", "secret": JWT_SECRET, "lifetime": lifetime})


@pytest.mark.parametrize("lifetime", [1, 3600])
def test_jwt_lifetime_bounds_are_accepted(lifetime: int) -> None:
    settings, _ = _parse({"type": "jwt", "secret": JWT_SECRET, "lifetime": lifetime})
    assert settings.sections()["auth"]["lifetime"] == lifetime


def test_jwt_short_secret_is_refused_at_save() -> None:
    _raises("at least 32 bytes", {"type": "jwt", "secret": "short"})


def test_oauth2_bad_auth_method() -> None:
    config = {**AUTH_CASES["oauth2"][0], "auth_method": "private_key_jwt"}
    _raises(r"auth\.auth_method must be one of client_secret_basic, client_secret_post", config)


def test_oauth2_bad_token_url() -> None:
    config = {**AUTH_CASES["oauth2"][0], "token_url": "ftp://auth.example.com/token"}
    _raises("token_url", config)


def test_basic_username_with_colon() -> None:
    _raises(r"auth\.username must not contain ':'", {"type": "basic", "username": "a:b", "password": "p"})


def test_bearer_token_with_whitespace() -> None:
    _raises("bearer token contains whitespace", {"type": "bearer", "token": "has space"})


def test_payload_unknown_format() -> None:
    _raises(r"payload\.format must be one of json, jws, jwe", None, {"format": "xml"})


def test_payload_unknown_field() -> None:
    _raises(r"payload \(json\) has unknown field\(s\) alg", None, {"format": "json", "alg": "RS256"})
    _raises(r"payload \(jws\) has unknown field\(s\) public_key", None, {"format": "jws", "public_key": "x"})


def test_jws_alg_is_not_configurable() -> None:
    # the algorithm follows hookgate's active key ring key
    _raises(r"payload \(jws\) has unknown field\(s\) alg", None, {"format": "jws", "alg": "HS256"})
    _raises(r"payload \(jws\) has unknown field\(s\) alg", None, {"format": "jws", "alg": "ES256"})


def test_jwe_missing_public_key() -> None:
    _raises(r"payload \(jwe\) needs public_key", None, {"format": "jwe"})


def test_jwe_public_key_not_a_string() -> None:
    _raises(r"payload\.public_key must be", None, {"format": "jwe", "public_key": 42})


def test_jwe_public_key_unparseable() -> None:
    _raises("key is neither PEM", None, {"format": "jwe", "public_key": "not a key"})


def test_jwe_public_key_unparseable_names_the_field() -> None:
    _raises("public_key", None, {"format": "jwe", "public_key": "not a key"})


def test_jwe_public_key_of_wrong_type() -> None:
    _raises("JWE needs an RSA or EC", None, {"format": "jwe", "public_key": _public("ed25519")})


def test_jwe_alg_not_for_the_key() -> None:
    _raises("encrypts with", None, {"format": "jwe", "public_key": _public("ec"), "alg": "RSA-OAEP-256"})


@pytest.mark.parametrize("sign", ["yes", 1, None])
def test_jwe_sign_not_bool(sign: object) -> None:
    _raises(
        r"payload\.sign must be true or false",
        None,
        {"format": "jwe", "public_key": _public("ec"), "sign": sign},
    )


def test_tls_unknown_field() -> None:
    _raises(r"tls has unknown field\(s\) verify", None, None, {"verify": False})


@pytest.mark.parametrize("version", ["1.1", "1.0", 1.2, "TLSv1.3", None])
def test_tls_min_version_bad(version: object) -> None:
    _raises(r"tls\.min_version must be one of 1\.2, 1\.3", None, None, {"min_version": version})


def test_tls_client_cert_without_client_key(client_pair: tuple[str, str]) -> None:
    cert, key = client_pair
    _raises("client_cert and client_key must be given together", None, None, {"client_cert": cert})
    _raises("client_cert and client_key must be given together", None, None, {"client_key": key})


def test_tls_key_not_matching_the_cert(ca: trustme.CA, client_pair: tuple[str, str]) -> None:
    cert, _ = client_pair
    other_key = ca.issue_cert("other.example").private_key_pem.bytes().decode("ascii")
    _raises(
        "client_key does not belong to client_cert",
        None,
        None,
        {"client_cert": cert, "client_key": other_key},
    )


def test_tls_non_string_values() -> None:
    _raises(r"tls\.ca_bundle must be a non-empty string", None, None, {"ca_bundle": 5})
    _raises(r"tls\.client_cert must be a non-empty string", None, None, {"client_cert": ""})


def test_tls_garbage_pem() -> None:
    _raises(
        "ca_bundle is not a PEM certificate|ca_bundle contains no certificate", None, None, {"ca_bundle": "x"}
    )


def test_unhashable_auth_type_is_a_config_error() -> None:
    _raises(r"auth\.type", {"type": ["api_key"]})


def test_unhashable_payload_format_is_a_config_error() -> None:
    _raises(r"payload\.format", None, {"format": {"x": 1}})


def test_unhashable_tls_min_version_is_a_config_error() -> None:
    _raises(r"tls\.min_version", None, None, {"min_version": ["1.3"]})


# --- secret references ---


def test_is_reference() -> None:
    assert is_reference("env:X")
    assert is_reference("file:/x")
    assert not is_reference("plain")
    assert not is_reference("ENV:X")


def test_resolve_plain_value() -> None:
    assert resolve_secret("plain-secret", "auth.key") == "plain-secret"
    assert resolve_secret("environment:X", "auth.key") == "environment:X"


def test_resolve_env_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_TEST_SECRET", "from-env")
    assert resolve_secret("env:HG_TEST_SECRET", "auth.key") == "from-env"


def test_resolve_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HG_TEST_SECRET", raising=False)
    with pytest.raises(
        ConfigError, match=r"auth\.key refers to environment variable 'HG_TEST_SECRET'.*not set"
    ):
        resolve_secret("env:HG_TEST_SECRET", "auth.key")


def test_resolve_env_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_TEST_SECRET", "")
    with pytest.raises(ConfigError, match="HG_TEST_SECRET"):
        resolve_secret("env:HG_TEST_SECRET", "auth.key")


def test_resolve_file_ok(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("  from-file\n", encoding="utf-8")
    assert resolve_secret(f"file:{path}", "auth.token") == "from-file"


def test_resolve_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.txt"
    with pytest.raises(ConfigError, match=r"auth\.token refers to file .*absent\.txt.*cannot be read"):
        resolve_secret(f"file:{path}", "auth.token")


def test_resolve_file_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"auth\.token refers to file .*empty\.txt.*which is empty"):
        resolve_secret(f"file:{path}", "auth.token")


def test_reference_is_stored_unresolved_and_resolved_on_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_TEST_TOKEN", "tok-from-env")
    settings, entries = _parse({"type": "bearer", "token": "env:HG_TEST_TOKEN"})
    assert entries == [SecretEntry("env:HG_TEST_TOKEN", "auth")]
    assert settings.sections() == {"auth": {"type": "bearer"}}
    monkeypatch.setenv("HG_TEST_TOKEN", "rotated-token")
    sec = load_security(settings, EndpointSecrets(tuple(entries)))
    assert sec.credential == "rotated-token"


def test_reference_checked_at_save(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HG_TEST_TOKEN", raising=False)
    _raises(r"auth\.token refers to environment variable", {"type": "bearer", "token": "env:HG_TEST_TOKEN"})


def test_tls_key_reference_from_file(tmp_path: Path, client_pair: tuple[str, str]) -> None:
    cert, key = client_pair
    path = tmp_path / "client.key"
    path.write_text(key, encoding="ascii")
    settings, entries = _parse(tls={"client_cert": cert, "client_key": f"file:{path}"})
    assert entries == [SecretEntry(f"file:{path}", "tls_key")]
    sec = load_security(settings, EndpointSecrets(tuple(entries)))
    assert sec.tls.client_key == key.strip()
