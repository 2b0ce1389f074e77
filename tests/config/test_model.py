"""The endpoint configuration model as a whole: storage round trip, public view, updates (config.endpoint)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
import trustme

from hookgate.config.endpoint import EndpointConfig
from hookgate.config.sections import ApiKeyAuth, JwePayload, NoAuth, OAuth2Auth, TlsConfig
from hookgate.errors import ConfigError
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.vault import EndpointSecrets, SecretEntry

NOW = time.time()
URL = "https://receiver.example.com/hook"
SECRETS = ("k-secret-123", "pw-secret-456", "cs-secret-789", "tok-secret-000")


@pytest.fixture(scope="module")
def client_pair() -> tuple[str, str]:
    cert = trustme.CA().issue_cert("client.example")
    return cert.cert_chain_pems[0].bytes().decode("ascii"), cert.private_key_pem.bytes().decode("ascii")


def _everything(client_pair: tuple[str, str]) -> dict[str, Any]:
    cert, key = client_pair
    public = public_pem(load_key(generate_key("rsa"), private=True))
    return {
        "url": URL,
        "event_types": ["invoice.*"],
        "scheme": "github",
        "secret": "gh-signing-secret",
        "headers": {"X-Tenant": "acme"},
        "timeout_s": 7,
        "rate_limit_per_s": 3,
        "max_concurrency": 4,
        "retry_schedule": [0, 1, 2.5],
        "auth": {
            "type": "oauth2",
            "token_url": "https://auth.example.com/token",
            "client_id": "c1",
            "client_secret": "cs-secret-789",
            "scope": "hooks",
        },
        "payload": {"format": "jwe", "public_key": public, "sign": True},
        "tls": {"client_cert": cert, "client_key": key, "min_version": "1.3"},
    }


def test_the_stored_sections_restore_the_same_config(client_pair: tuple[str, str]) -> None:
    config = EndpointConfig.parse(_everything(client_pair), now=NOW).config
    stored = json.loads(json.dumps(config.sections()))  # what the settings column holds
    restored = replace(config, **EndpointConfig.restore_sections(stored))
    assert restored == config
    assert isinstance(restored.auth, OAuth2Auth)
    assert isinstance(restored.payload, JwePayload)
    assert restored.payload.sign
    assert restored.tls.min_version == "1.3"


def test_defaults_store_nothing() -> None:
    config = EndpointConfig.parse({"url": URL}, now=NOW).config
    assert config.sections() == {}
    assert replace(config, **EndpointConfig.restore_sections({})) == config


def test_the_public_view_is_json_and_holds_no_secret(client_pair: tuple[str, str]) -> None:
    values = _everything(client_pair)
    parsed = EndpointConfig.parse(values, now=NOW)
    text = json.dumps(parsed.config.public()) + repr(parsed.config) + repr(parsed)
    for secret in ("gh-signing-secret", "cs-secret-789", client_pair[1].splitlines()[1]):
        assert secret not in text
    public = parsed.config.public()
    assert public["auth"] == {
        "type": "oauth2",
        "token_url": "https://auth.example.com/token",
        "client_id": "c1",
        "scope": "hooks",
    }
    assert public["tls"] == {"client_cert": client_pair[0], "min_version": "1.3"}
    assert (public["timeout_s"], public["retry_schedule"]) == (7.0, [0.0, 1.0, 2.5])
    kinds = sorted(e.kind for e in parsed.secrets.entries)
    assert kinds == ["auth", "secret", "tls_key"]


def test_a_signing_secret_is_generated_when_none_is_given() -> None:
    parsed = EndpointConfig.parse({"url": URL}, now=NOW)
    assert parsed.generated is not None
    assert parsed.generated.startswith("whsec_")
    assert [e.value for e in parsed.secrets.entries] == [parsed.generated]
    assert "whsec_" not in repr(parsed)


def test_parse_names_unknown_and_missing_fields() -> None:
    with pytest.raises(ConfigError, match="unknown endpoint field"):
        EndpointConfig.parse({"url": URL, "colour": "blue"}, now=NOW)
    with pytest.raises(ConfigError, match="needs a url"):
        EndpointConfig.parse({}, now=NOW)


def test_update_replaces_a_section_and_returns_its_secrets() -> None:
    config = EndpointConfig.parse({"url": URL, "auth": {"type": "bearer", "token": "old"}}, now=NOW).config
    update = config.update({"auth": {"type": "api_key", "header": "X-Key", "key": "k-new"}}, now=NOW)
    assert update.config.auth == ApiKeyAuth(header="X-Key")
    assert update.replaced == {"auth": (SecretEntry("k-new", "auth"),)}
    old = EndpointSecrets((SecretEntry("whsec_x", "secret"), SecretEntry("old", "auth")))
    assert update.apply_to(old).entries == (SecretEntry("whsec_x", "secret"), SecretEntry("k-new", "auth"))
    cleared = update.config.update({"auth": None, "tls": None}, now=NOW)
    assert cleared.config.auth == NoAuth()
    assert cleared.config.tls == TlsConfig()
    assert cleared.replaced == {"auth": (), "tls_key": ()}


def test_update_checks_each_field_by_the_same_rule_as_parse() -> None:
    config = EndpointConfig.parse({"url": URL}, now=NOW).config
    for changes, message in [
        ({"timeout_s": 0}, "timeout_s must be between"),
        ({"max_concurrency": 2000}, "max_concurrency must be an integer"),
        ({"url": "http://receiver.example.com/"}, "https"),
        ({"headers": {"Content-Type": "x"}}, "set by hookgate"),
        ({"scheme": "github"}, "cannot update scheme"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config.update(changes, now=NOW)
        if "scheme" not in changes:
            with pytest.raises(ConfigError, match=message):
                EndpointConfig.parse({"url": URL, **changes}, now=NOW)
    assert config.update({"timeout_s": 30}, now=NOW).config.policy.timeout_s == 30.0


def test_switching_allow_insecure_off_rechecks_an_http_token_url() -> None:
    auth = {"type": "oauth2", "token_url": "http://127.0.0.1:9/t", "client_id": "c", "client_secret": "s"}
    config = EndpointConfig.parse(
        {"url": "http://127.0.0.1:9/hook", "allow_insecure": True, "auth": auth}, now=NOW
    ).config
    with pytest.raises(ConfigError):
        config.update({"allow_insecure": False, "url": URL}, now=NOW)
