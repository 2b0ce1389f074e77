"""hookgate's public JWS signing keys, as a JWKS document (no token: receivers fetch it)."""

from __future__ import annotations

from typing import Any

from hookgate.api.deps import HG, resource_router

__all__ = ["router"]

router = resource_router("", "keys")


@router.get("/.well-known/jwks.json")
async def jwks(hg: HG) -> dict[str, Any]:
    return await hg.jwks()
