"""Inbound sources over the API: validated like the gateway's TOML, stored sealed, secrets never read back."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import pytest
import trustme

from hookgate.api.inbound import InboundRouter
from hookgate.client import source_aad
from hookgate.keys import generate_key, load_key, public_pem
from tests.api.conftest import BASE, Api

V1 = "/api/v1"
INBOUND_SECRET = "s3cret-inbound-value"
FORWARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SOURCE: dict[str, Any] = {
    "name": "github-in",
    "scheme": "github",
    "secrets": [INBOUND_SECRET],
    "path": "/inbound/github",
    "forward_to": "https://app.example/hooks/github",
    "forward_secret": FORWARD_SECRET,
    "event_id": "header:X-GitHub-Delivery",
}


async def test_create_read_replace_delete(api: Api) -> None:
    created = await api.client.post(f"{V1}/sources", json=SOURCE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "github-in"
    assert body["scheme"] == "github"
    assert body["event_id"] == "header:X-GitHub-Delivery"
    source_id = body["id"]
    for response in (
        created,
        await api.client.get(f"{V1}/sources/{source_id}"),
        await api.client.get(f"{V1}/sources"),
    ):
        assert response.status_code in {200, 201}
        assert INBOUND_SECRET not in response.text
        assert FORWARD_SECRET not in response.text
        assert FORWARD_SECRET.removeprefix("whsec_") not in response.text
    replaced = await api.client.put(
        f"{V1}/sources/{source_id}", json={**SOURCE, "forward_to": "https://app.example/v2"}
    )
    assert replaced.status_code == 200
    assert replaced.json()["forward_to"] == "https://app.example/v2"
    assert replaced.json()["created_at"] == body["created_at"]
    assert (await api.client.delete(f"{V1}/sources/{source_id}")).status_code == 204
    gone = await api.client.get(f"{V1}/sources/{source_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_the_stored_record_is_sealed(api: Api) -> None:
    created = await api.client.post(f"{V1}/sources", json=SOURCE)
    record = await api.hg.store.get_source(created.json()["id"])
    assert INBOUND_SECRET.encode() not in record.config_sealed
    assert FORWARD_SECRET.encode() not in record.config_sealed
    assert api.hg.box is not None
    opened = api.hg.box.open(record.config_sealed, source_aad(record.id))
    assert INBOUND_SECRET.encode() in opened


async def test_invalid_sources_are_422_with_the_field_named(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({**SOURCE, "scheme": "nope"}, "scheme"),
        ({**SOURCE, "forward_secret": "whsec_***"}, "forward_secret"),
        ({**SOURCE, "event_id": "query:x"}, "event_id"),
        ({**SOURCE, "allow_ips": ["not-a-cidr"]}, "allow_ips"),
        ({**SOURCE, "path": "/elsewhere"}, "path"),
        ({k: v for k, v in SOURCE.items() if k != "forward_secret"}, "forward_secret"),
        ({**SOURCE, "forward_tls": {"ca_bundle": "not a certificate"}}, "forward_tls ca_bundle"),
        ({**SOURCE, "forward_tls": {"min_version": "1.0"}}, "forward_tls.min_version"),
        ({**SOURCE, "forward_tls": {"verify": False}}, "forward_tls has unknown field(s) verify"),
    ]
    for body, field in cases:
        response = await api.client.post(f"{V1}/sources", json=body)
        assert response.status_code == 422, (field, response.text)
        assert field in response.text, (field, response.text)
    assert (await api.client.get(f"{V1}/sources")).json() == []


async def test_names_are_unique(api: Api) -> None:
    assert (await api.client.post(f"{V1}/sources", json=SOURCE)).status_code == 201
    again = await api.client.post(f"{V1}/sources", json={**SOURCE, "path": "/inbound/other"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_forward_tls_is_validated_and_its_client_key_never_read_back(api: Api) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    leaf = client_ca.issue_cert("gateway@example")
    ca = server_ca.cert_pem.bytes().decode()
    cert = "".join(b.bytes().decode() for b in leaf.cert_chain_pems)
    key = leaf.private_key_pem.bytes().decode()
    tls = {"ca_bundle": ca, "client_cert": cert, "client_key": key, "min_version": "1.3"}
    created = await api.client.post(f"{V1}/sources", json={**SOURCE, "forward_tls": tls})
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    key_line = key.splitlines()[1]
    for response in (
        created,
        await api.client.get(f"{V1}/sources/{source_id}"),
        await api.client.get(f"{V1}/sources"),
    ):
        assert key_line not in response.text
        assert "PRIVATE KEY" not in response.text
    public = {"ca_bundle": ca, "client_cert": cert, "min_version": "1.3"}
    assert created.json()["forward_tls"] == public
    assert (await api.client.get(f"{V1}/sources/{source_id}")).json()["forward_tls"] == public
    record = await api.hg.store.get_source(source_id)
    assert key_line.encode() not in record.config_sealed
    # a source without forward_tls shows an empty one
    plain = await api.client.post(f"{V1}/sources", json={**SOURCE, "name": "plain", "path": "/inbound/plain"})
    assert plain.json()["forward_tls"] == {}


async def test_jwks_tls_is_accepted_and_shown_without_its_client_key(api: Api) -> None:
    ca, client_ca = trustme.CA(), trustme.CA()
    leaf = client_ca.issue_cert("hookgate@example")
    key = leaf.private_key_pem.bytes().decode()
    tls = {
        "ca_bundle": ca.cert_pem.bytes().decode(),
        "client_cert": "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        "client_key": key,
    }
    body = {
        "name": "partner",
        "scheme": "jws",
        "jwks_url": "https://partner.example/.well-known/jwks.json",
        "jwks_tls": tls,
        "path": "/inbound/partner",
        "forward_to": "https://app.example/hooks/partner",
        "forward_secret": FORWARD_SECRET,
    }
    created = await api.client.post(f"{V1}/sources", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["jwks_tls"] == {"ca_bundle": tls["ca_bundle"], "client_cert": tls["client_cert"]}
    assert key.splitlines()[1] not in created.text
    invalid = await api.client.post(
        f"{V1}/sources", json={**body, "name": "p2", "path": "/inbound/p2", "jwks_tls": {"min_version": "1"}}
    )
    assert invalid.status_code == 422
    assert "jwks_tls.min_version" in invalid.text


async def test_secret_references_are_resolved_never_used_as_the_key(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKGATE_TEST_API_GH_SECRET", raising=False)
    by_reference = {**SOURCE, "secrets": ["env:HOOKGATE_TEST_API_GH_SECRET"], "require_https": False}
    unresolved = await api.client.post(f"{V1}/sources", json=by_reference)
    assert unresolved.status_code == 422
    assert "HOOKGATE_TEST_API_GH_SECRET" in unresolved.text
    monkeypatch.setenv("HOOKGATE_TEST_API_GH_SECRET", INBOUND_SECRET)
    created = await api.client.post(f"{V1}/sources", json=by_reference)
    assert created.status_code == 201, created.text
    # the reference is what is stored (so rotating the variable needs no API call), never its value
    record = await api.hg.store.get_source(created.json()["id"])
    assert api.hg.box is not None
    opened = api.hg.box.open(record.config_sealed, source_aad(record.id))
    assert b"env:HOOKGATE_TEST_API_GH_SECRET" in opened
    assert INBOUND_SECRET.encode() not in opened
    router = InboundRouter(api.app, api.hg, refresh_s=0.0)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url=BASE) as client:
            body = b'{"action":"opened"}'
            genuine = await client.post(
                "/inbound/github", content=body, headers=github(INBOUND_SECRET, body, "1")
            )
            literal = github("env:HOOKGATE_TEST_API_GH_SECRET", body, "2")
            forged = await client.post("/inbound/github", content=body, headers=literal)
    finally:
        await router.close()
    assert (genuine.status_code, forged.status_code) == (200, 401)


def github(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


@pytest.mark.parametrize(
    "path",
    [
        "/inbound/../api/v1/tokens",
        "/inbound/%2e%2e/api/v1/tokens",
        "/inbound/./github",
        "/inbound//github",
        "/inbound/github/..",
        "/inbound/..",
    ],
)
async def test_paths_with_dot_segments_are_refused(api: Api, path: str) -> None:
    response = await api.client.post(f"{V1}/sources", json={**SOURCE, "path": path})
    assert response.status_code == 422, response.text
    assert "path" in response.text
    assert (await api.client.get(f"{V1}/sources")).json() == []


async def test_path_segments_that_only_start_with_dots_are_fine(api: Api) -> None:
    for n, path in enumerate(["/inbound/.well-known/hooks", "/inbound/..x", "/inbound/v1.2/github/"]):
        body = {**SOURCE, "name": f"gh-{n}", "path": path}
        response = await api.client.post(f"{V1}/sources", json=body)
        assert response.status_code == 201, (path, response.text)


async def test_jwe_sources_take_the_senders_keys(api: Api) -> None:
    receiver = generate_key("rsa")
    sender = public_pem(load_key(generate_key("ec"), private=True))
    jwe = {
        **SOURCE,
        "name": "partner",
        "scheme": "jwe",
        "secrets": [],
        "keys": [receiver],
        "path": "/inbound/p",
    }
    del jwe["event_id"]
    refused = await api.client.post(f"{V1}/sources", json=jwe)
    assert refused.status_code == 422
    assert "sender" in refused.text
    created = await api.client.post(f"{V1}/sources", json={**jwe, "sender_keys": [sender]})
    assert created.status_code == 201, created.text
    assert receiver not in created.text
    unsigned = {
        **jwe,
        "name": "partner2",
        "path": "/inbound/p2",
        "scheme_options": {"require_signature": False},
    }
    assert (await api.client.post(f"{V1}/sources", json=unsigned)).status_code == 201
