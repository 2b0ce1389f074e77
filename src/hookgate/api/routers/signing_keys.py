"""hookgate's own JWS signing keys (admin only): list them, generate one, activate one, retire one.

The public halves are published at ``/.well-known/jwks.json`` (`hookgate.api.routers.keys`); a new key is
``pending`` (published, not signing) until activated, so receivers caching the JWKS learn it first.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from hookgate.api.auth import Auth, require_admin
from hookgate.api.deps import HG, resource_router
from hookgate.api.schemas import Strict
from hookgate.errors import NotFoundError
from hookgate.models import SigningKey

__all__ = ["router"]

router = resource_router("/api/v1/signing-keys", "signing keys")


class SigningKeyIn(Strict):
    kind: Literal["ed25519", "ec", "rsa"] = Field(default="ed25519", description="the key type")
    activate: bool = Field(default=False, description="sign with it at once (else it stays pending)")


class SigningKeyOut(BaseModel):
    kid: str
    kind: str
    alg: str
    status: str
    public_jwk: dict[str, Any]
    created_at: float
    activated_at: float | None
    retired_at: float | None


def signing_key_out(k: SigningKey) -> SigningKeyOut:
    return SigningKeyOut(
        kid=k.kid,
        kind=k.kind,
        alg=k.alg,
        status=str(k.status),
        public_jwk=json.loads(k.public_jwk),
        created_at=k.created_at,
        activated_at=k.activated_at,
        retired_at=k.retired_at,
    )


@router.get("")
async def list_signing_keys(who: Auth, hg: HG) -> list[SigningKeyOut]:
    require_admin(who)
    return [signing_key_out(k) for k in await hg.keyring.keys()]


@router.post("", status_code=201)
async def create_signing_key(body: SigningKeyIn, who: Auth, hg: HG) -> SigningKeyOut:
    require_admin(who)
    return signing_key_out(await hg.keyring.generate(body.kind, activate=body.activate))


async def _known(hg: HG, kid: str) -> None:
    if kid not in {k.kid for k in await hg.keyring.keys()}:
        raise NotFoundError("no such resource")


@router.post("/{kid}/activate")
async def activate_signing_key(kid: str, who: Auth, hg: HG) -> SigningKeyOut:
    require_admin(who)
    await _known(hg, kid)
    return signing_key_out(await hg.keyring.activate(kid))


@router.post("/{kid}/retire")
async def retire_signing_key(kid: str, who: Auth, hg: HG) -> SigningKeyOut:
    require_admin(who)
    await _known(hg, kid)
    return signing_key_out(await hg.keyring.retire(kid))
