"""OAuth2 client credentials, sans-I/O: request building, response parsing, refresh policy."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookgate.errors import ConfigError, OAuth2Error
from hookgate.keys import Secret
from hookgate.schemes.oauth2 import (
    ClientCredentials,
    Token,
    TokenPolicy,
    bearer_headers,
    build_token_request,
    parse_form,
    parse_token_response,
)

NOW = 1_700_000_000.0


def creds(**overrides: object) -> ClientCredentials:
    values: dict[str, object] = {
        "token_url": "https://auth.example.test/oauth/token",
        "client_id": "hookgate-client",
        "client_secret": Secret(b"s3cr:et/+&"),
        "scope": "webhooks:write",
        "audience": "https://api.example.test",
    }
    values.update(overrides)
    return ClientCredentials(**values)  # type: ignore[arg-type]


def test_basic_auth_request_form_urlencodes_credentials_before_base64() -> None:
    request = build_token_request(creds())
    assert request.method == "POST"
    assert request.url == "https://auth.example.test/oauth/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    # RFC 6749 2.3.1: each part is form-urlencoded, so ':' in the secret cannot split it
    assert urllib.parse.unquote_plus(user) == "hookgate-client"
    assert urllib.parse.unquote_plus(password) == "s3cr:et/+&"
    form = parse_form(request.body)
    assert form == {
        "grant_type": "client_credentials",
        "scope": "webhooks:write",
        "audience": "https://api.example.test",
    }


def test_post_auth_puts_credentials_in_the_form_only() -> None:
    request = build_token_request(creds(auth_method="client_secret_post", scope=None, audience=None))
    assert "Authorization" not in request.headers
    assert parse_form(request.body) == {
        "grant_type": "client_credentials",
        "client_id": "hookgate-client",
        "client_secret": "s3cr:et/+&",
    }


def test_secrets_stay_out_of_reprs() -> None:
    c = creds()
    request = build_token_request(c)
    assert "s3cr" not in repr(c)
    assert "s3cr" not in repr(request)
    assert "czNjcj" not in repr(request)  # base64 of the secret's start


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_secret": Secret(b"")}, "client_secret"),
        ({"auth_method": "private_key_jwt"}, "auth_method"),
        ({"header": "Bad Header"}, "header name"),
    ],
)
def test_invalid_credentials_are_config_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        creds(**overrides)


def test_parse_success_computes_expiry() -> None:
    body = json.dumps({"access_token": "tok-123", "token_type": "bearer", "expires_in": 3600, "scope": "a b"})
    token = parse_token_response(200, body.encode(), now=NOW)
    assert token.access_token.reveal() == b"tok-123"
    assert token.token_type == "Bearer"
    assert token.expires_at == NOW + 3600
    assert token.scope == "a b"
    assert "tok-123" not in repr(token)


def test_parse_accepts_string_expires_in_and_missing_expiry() -> None:
    body = b'{"access_token":"t","token_type":"Bearer","expires_in":"60"}'
    token = parse_token_response(200, body, now=NOW)
    assert token.expires_at == NOW + 60
    token = parse_token_response(200, b'{"access_token":"t","token_type":"Bearer"}', now=NOW)
    assert token.expires_at is None


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (400, b'{"error":"invalid_client","error_description":"bad secret"}', "invalid_client", "bad secret"),
        (401, b'{"error":"unauthorized_client"}', "unauthorized_client", "unauthorized_client"),
        (500, b"<html>oops</html>", None, "HTTP 500"),
        (200, b"not json", None, "not a JSON object"),
        (200, b"[]", None, "not a JSON object"),
        (200, b'{"token_type":"Bearer"}', None, "no access_token"),
        (200, b'{"access_token":"","token_type":"Bearer"}', None, "no access_token"),
        (200, b'{"access_token":"a b","token_type":"Bearer"}', None, "not allowed in a header"),
        (200, b'{"access_token":"t","token_type":"mac"}', None, "not Bearer"),
        (200, b'{"access_token":"t","token_type":"Bearer","expires_in":"soon"}', None, "not a number"),
        (200, b'{"access_token":"t","token_type":"Bearer","expires_in":-5}', None, "positive"),
        (200, b'{"access_token":"t","token_type":"Bearer","expires_in":NaN}', None, "positive"),
    ],
)
def test_parse_errors(status: int, body: bytes, error: str | None, message: str) -> None:
    with pytest.raises(OAuth2Error, match=message) as info:
        parse_token_response(status, body, now=NOW)
    assert info.value.error == error
    assert info.value.status == status


def test_parse_refuses_huge_responses() -> None:
    with pytest.raises(OAuth2Error, match="larger than"):
        parse_token_response(200, b" " * (65 * 1024), now=NOW)


@given(status=st.integers(min_value=100, max_value=599), body=st.binary(max_size=300))
def test_parse_never_raises_anything_but_oauth2_error(status: int, body: bytes) -> None:
    outcome: Token | OAuth2Error
    try:
        outcome = parse_token_response(status, body, now=NOW)
    except OAuth2Error as exc:
        outcome = exc
    if isinstance(outcome, Token):
        assert 200 <= status < 300
        assert len(outcome.access_token) > 0
    else:
        assert outcome.status == status


def make_token(lifetime: float | None) -> Token:
    expires_at = None if lifetime is None else NOW + lifetime
    return Token(Secret(b"t"), "Bearer", obtained_at=NOW, expires_at=expires_at)


@pytest.mark.parametrize(
    ("lifetime", "refresh_at"),
    [
        (3600, NOW + 3600 - 30),  # long token: skew decides
        (60, NOW + 48),  # short token: 80 % of its lifetime comes first
        (None, NOW + 300),  # no expires_in: default lifetime
    ],
)
def test_refresh_policy(lifetime: float | None, refresh_at: float) -> None:
    policy = TokenPolicy()
    token = make_token(lifetime)
    assert policy.refresh_at(token) == refresh_at
    assert not policy.needs_refresh(token, refresh_at - 1)
    assert policy.needs_refresh(token, refresh_at)
    assert policy.needs_refresh(None, NOW)


def test_bearer_header_uses_configured_name() -> None:
    token = parse_token_response(200, b'{"access_token":"abc","token_type":"Bearer"}', now=NOW)
    signed = bearer_headers(token, creds(header="X-Auth"), b"{}")
    assert signed.headers == {"X-Auth": "Bearer abc"}
    assert signed.body == b"{}"
