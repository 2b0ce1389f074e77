"""The signing key ring through the API: generate (pending), activate, retire, as the JWKS shows them."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_a_key_is_generated_pending_then_activated_and_the_old_one_retired(api: Api) -> None:
    c = api.client
    first = (await c.get("/api/v1/signing-keys")).json()
    assert [k["status"] for k in first] == ["active"]
    made = await c.post("/api/v1/signing-keys", json={"kind": "ec"})
    assert made.status_code == 201
    new = made.json()
    assert new["status"] == "pending"
    assert "d" not in new["public_jwk"]  # the private part never leaves
    jwks = (await c.get("/.well-known/jwks.json")).json()
    assert new["kid"] in {k["kid"] for k in jwks["keys"]}
    assert (await c.post(f"/api/v1/signing-keys/{new['kid']}/activate")).json()["status"] == "active"
    refused = await c.post(f"/api/v1/signing-keys/{new['kid']}/retire")
    assert refused.status_code == 422  # the active key: activate another first
    old = first[0]["kid"]
    assert (await c.post(f"/api/v1/signing-keys/{old}/retire")).json()["status"] == "retired"
    assert (await c.post("/api/v1/signing-keys/nope/activate")).status_code == 404
    assert (await c.post("/api/v1/signing-keys", json={"kind": "dsa"})).status_code == 422
