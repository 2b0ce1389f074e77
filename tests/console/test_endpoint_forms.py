"""The endpoint forms' mapping (`hookgate.console.endpoint_forms`): every auth, payload and TLS variant of a
submitted form as the API's body; only the chosen type's fields are read; what a refused form shows again
holds no secret; an endpoint's public view as the edit form's values."""

from __future__ import annotations

from typing import Any

import pytest

from hookgate.api.schemas import EndpointOut
from hookgate.console.endpoint_forms import (
    SECRET_FIELDS,
    endpoint_in,
    endpoint_patch,
    error_section,
    scrub,
    typed_values,
    values_of,
)
from hookgate.console.forms import Form
from hookgate.errors import ConfigError

URL = "https://r.example/hook"
# every type's fields filled in, as a browser without JavaScript sends them: only the chosen type counts
EVERY_AUTH_FIELD = {
    "auth_api_key_header": "X-Key",
    "auth_api_key_key": "k-123",
    "auth_basic_username": "hook",
    "auth_basic_password": "pw-123",
    "auth_basic_header": "",
    "auth_bearer_token": "tok-123",
    "auth_bearer_header": "X-Auth",
    "auth_jwt_secret": "jwt-secret-123",
    "auth_jwt_issuer": "hookgate",
    "auth_jwt_audience": "receiver",
    "auth_jwt_lifetime": "120",
    "auth_oauth2_token_url": "https://auth.example/token",
    "auth_oauth2_client_id": "cid",
    "auth_oauth2_client_secret": "cs-123",
    "auth_oauth2_scope": "hooks:write",
    "auth_oauth2_audience": "https://r.example",
    "auth_oauth2_auth_method": "client_secret_post",
}
AUTH_CASES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "api_key": {"type": "api_key", "header": "X-Key", "key": "k-123"},
    "basic": {"type": "basic", "username": "hook", "password": "pw-123"},
    "bearer": {"type": "bearer", "token": "tok-123", "header": "X-Auth"},
    "jwt": {"type": "jwt", "secret": "jwt-secret-123", "issuer": "hookgate", "audience": "receiver",
            "lifetime": 120},
    "oauth2": {
        "type": "oauth2",
        "token_url": "https://auth.example/token",
        "client_id": "cid",
        "client_secret": "cs-123",
        "scope": "hooks:write",
        "audience": "https://r.example",
        "auth_method": "client_secret_post",
    },
}  # fmt: skip
EVERY_PAYLOAD_FIELD = {
    "payload_jwe_public_key": "PEM",
    "payload_jwe_alg": "RSA-OAEP-256",
    "payload_jwe_sign": "on",
}
PEM_A = "-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----"
PEM_B = "-----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----"
PAYLOAD_CASES: dict[str, dict[str, Any] | None] = {
    "json": None,
    "jws": {"format": "jws"},
    "jwe": {"format": "jwe", "public_key": "PEM", "alg": "RSA-OAEP-256", "sign": True},
}


def form(**fields: str | list[str]) -> Form:
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        pairs += [(name, v) for v in value] if isinstance(value, list) else [(name, value)]
    return Form(pairs)


@pytest.mark.parametrize("kind", sorted(AUTH_CASES))
def test_each_auth_type_reads_only_its_own_fields(kind: str) -> None:
    body = endpoint_in(form(url=URL, auth_type=kind, **EVERY_AUTH_FIELD))
    assert body.auth == AUTH_CASES[kind]


@pytest.mark.parametrize("fmt", sorted(PAYLOAD_CASES))
def test_each_payload_format_reads_only_its_own_fields(fmt: str) -> None:
    body = endpoint_in(form(url=URL, payload_format=fmt, **EVERY_PAYLOAD_FIELD))
    assert body.payload == PAYLOAD_CASES[fmt]


def test_jwe_defaults_follow_the_key_and_do_not_sign() -> None:
    body = endpoint_in(form(url=URL, payload_format="jwe", payload_jwe_public_key="PEM", payload_jwe_alg=""))
    assert body.payload == {"format": "jwe", "public_key": "PEM"}


@pytest.mark.parametrize(
    ("fields", "tls"),
    [
        ({}, None),
        ({"tls_min_version": "1.2"}, None),
        ({"tls_min_version": "1.3"}, {"min_version": "1.3"}),
        ({"tls_ca_bundle": "CA"}, {"ca_bundle": "CA"}),
        (
            {
                "tls_client_cert": "CERT",
                "tls_client_key": "KEY",
                "tls_ca_bundle": "CA",
                "tls_min_version": "1.3",
            },
            {"client_cert": "CERT", "client_key": "KEY", "ca_bundle": "CA", "min_version": "1.3"},
        ),
    ],
    ids=["none", "default-floor", "floor-1.3", "ca-only", "mtls"],
)
def test_tls_variants(fields: dict[str, str], tls: dict[str, str] | None) -> None:
    assert endpoint_in(form(url=URL, **fields)).tls == tls


def test_the_plain_fields() -> None:
    body = endpoint_in(
        form(
            url=URL,
            event_type=["order.created", "order.paid"],
            event_types_extra="invoice.*, order.paid",
            header_name=["X-Tenant", "", "X-Env"],
            header_value=["acme", "", "prod"],
            retry_schedule="5, 30,300",
            timeout_s="7.5",
            rate_limit_per_s="20",
            max_concurrency="4",
            allow_insecure="on",
        )
    )
    assert body.event_types == ["order.created", "order.paid", "invoice.*"]
    assert body.headers == {"X-Tenant": "acme", "X-Env": "prod"}
    assert (body.retry_schedule, body.timeout_s, body.rate_limit_per_s, body.max_concurrency) == (
        [5.0, 30.0, 300.0],
        7.5,
        20.0,
        4,
    )
    assert body.allow_insecure is True
    empty = endpoint_in(
        form(url=URL, timeout_s="", rate_limit_per_s="", max_concurrency="", retry_schedule="")
    )
    assert (empty.headers, empty.retry_schedule, empty.timeout_s, empty.rate_limit_per_s) == (
        None,
        None,
        15.0,
        None,
    )
    assert (empty.max_concurrency, empty.allow_insecure, empty.auth, empty.payload, empty.tls) == (
        None,
        False,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"scheme": "standard-webhooks", "secret": ""}, {"secret": None, "keys": []}),
        ({"scheme": "stripe", "secret": "whsec_x"}, {"secret": "whsec_x", "keys": []}),
        ({"scheme": "none", "secret": "ignored", "keys": "ignored"}, {"secret": None, "keys": []}),
        (
            {"scheme": "standard-webhooks-ed25519", "secret": "ignored", "keys": f"{PEM_A}\n{PEM_B}\n"},
            {"secret": None, "keys": [PEM_A, PEM_B]},
        ),
        ({"scheme": "standard-webhooks-ed25519", "keys": '{"kty": "OKP"}'}, {"keys": ['{"kty": "OKP"}']}),
    ],
    ids=["generated", "given", "unsigned", "pem-keys", "jwk-key"],
)  # fmt: skip
def test_the_signature_secret_or_keys(fields: dict[str, str], expected: dict[str, Any]) -> None:
    body = endpoint_in(form(url=URL, **fields))
    assert {k: getattr(body, k) for k in expected} == expected


def test_scheme_options_are_the_chosen_schemes_only() -> None:
    fields = {"opt_hmac_header_name": "X-Sig", "opt_hmac_prefix": "", "opt_shopify_shop_domain": "s.example"}
    assert endpoint_in(form(url=URL, scheme="hmac", secret="s", **fields)).scheme_options == {
        "header_name": "X-Sig"
    }
    assert endpoint_in(form(url=URL, scheme="github", **fields)).scheme_options is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"auth_type": "magic"}, "unknown authentication"),
        ({"payload_format": "xml"}, "unknown payload format"),
        ({"retry_schedule": "5, soon"}, "retry schedule"),
        ({"max_concurrency": "2.5"}, "whole number"),
        ({"timeout_s": "fast"}, "number"),
        ({"auth_type": "jwt", "auth_jwt_lifetime": "1m"}, "JWT lifetime"),
        ({"header_name": ["", "X"], "header_value": ["v", "w"]}, "no header name"),
    ],
)
def test_malformed_fields_are_config_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        endpoint_in(form(url=URL, **fields))


def test_an_edit_sends_a_section_only_when_its_box_is_ticked() -> None:
    filled = {
        "auth_type": "bearer",
        "auth_bearer_token": "t",
        "payload_format": "jws",
        "tls_min_version": "1.3",
    }
    untouched = endpoint_patch(form(url=URL, timeout_s="", **filled))
    sent = untouched.model_dump(exclude_unset=True)
    assert sent == {
        "url": URL,
        "event_types": [],
        "headers": {},
        "rate_limit_per_s": None,
        "max_concurrency": None,
        "retry_schedule": None,
        "allow_insecure": False,
    }
    ticked = endpoint_patch(
        form(url=URL, replace_auth="on", replace_payload="on", replace_tls="on", **filled)
    )
    assert (ticked.auth, ticked.payload, ticked.tls) == (
        {"type": "bearer", "token": "t"},
        {"format": "jws"},
        {"min_version": "1.3"},
    )
    reset = endpoint_patch(form(url=URL, replace_auth="on", replace_payload="on", replace_tls="on"))
    assert (reset.auth, reset.payload, reset.tls) == ({"type": "none"}, {"format": "json"}, {})


def test_typed_values_keep_everything_but_secrets() -> None:
    typed = form(
        url=URL,
        secret="s-1",
        keys="k-1",
        tls_client_key="tk-1",
        tls_client_cert="CERT",
        header_name=["X-A", ""],
        header_value=["1", ""],
        event_type=["a.b"],
        allow_insecure="on",
        **EVERY_AUTH_FIELD,
    )
    values = typed_values(typed)
    assert not SECRET_FIELDS & set(values)
    shown = repr(values)
    for secret in ("s-1", "k-1", "tk-1", "k-123", "pw-123", "tok-123", "jwt-secret-123", "cs-123"):
        assert secret not in shown
    assert values["auth_oauth2_token_url"] == "https://auth.example/token"
    assert values["tls_client_cert"] == "CERT"
    assert (values["headers"], values["event_types"], values["allow_insecure"]) == (
        [("X-A", "1")],
        ["a.b"],
        True,
    )


def test_scrub_and_error_section() -> None:
    typed = form(auth_basic_password="hunter22")
    assert scrub("auth.password hunter22 is weak", typed) == "auth.password … is weak"
    assert error_section("auth (oauth2) needs client_secret") == "auth"
    assert error_section("auth.token_url: not https") == "auth"
    assert error_section("payload.public_key: not a key") == "payload"
    assert error_section("tls.client_cert: expired") == "tls"
    assert error_section("scheme stripe needs a secret") == "signature"
    assert error_section("url must use https") == "top"


def test_values_of_an_endpoint_view() -> None:
    view = EndpointOut(
        id="ep_1",
        app_id="acme",
        url=URL,
        event_types=["order.created", "x.*"],
        enabled=True,
        disabled_reason=None,
        scheme="hmac",
        headers={"X-Tenant": "acme"},
        timeout_s=15.0,
        rate_limit_per_s=2.5,
        max_concurrency=None,
        retry_schedule=[5.0, 30.0],
        allow_insecure=False,
        auth_type="oauth2",
        payload_format="jwe",
        auth={"type": "oauth2", "token_url": "https://auth.example/token", "client_id": "cid"},
        payload={"format": "jwe", "public_key": "PEM", "sign": True},
        scheme_options={"header_name": "X-Sig"},
        tls={"min_version": "1.3"},
        failing_since=None,
        created_at=0.0,
        updated_at=0.0,
    )
    values = values_of(view, ["order.created"])
    assert values["event_types"] == ["order.created"]
    assert values["event_types_extra"] == "x.*"
    assert (values["timeout_s"], values["rate_limit_per_s"], values["max_concurrency"]) == ("15", "2.5", "")
    assert values["retry_schedule"] == "5, 30"
    assert values["auth_type"] == "oauth2"
    assert values["auth_oauth2_client_id"] == "cid"
    assert (values["payload_format"], values["payload_jwe_public_key"], values["payload_jwe_sign"]) == (
        "jwe",
        "PEM",
        True,
    )
    assert values["opt_hmac_header_name"] == "X-Sig"
    assert values["tls_min_version"] == "1.3"
    assert values["headers"] == [("X-Tenant", "acme")]


def test_key_and_certificate_text_areas_lose_the_browsers_crlf() -> None:
    body = endpoint_in(
        form(url=URL, tls_client_cert="A\r\nB", payload_format="jwe", payload_jwe_public_key="C\r\nD")
    )
    assert body.tls == {"client_cert": "A\nB"}
    assert body.payload == {"format": "jwe", "public_key": "C\nD"}
