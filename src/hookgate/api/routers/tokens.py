"""API tokens (admin only): issue one (its text shown once), list them, revoke one."""

from __future__ import annotations

from hookgate.api.auth import Auth, require_admin
from hookgate.api.deps import HG, resource_router
from hookgate.api.schemas import TokenCreated, TokenIn, TokenOut, token_out

__all__ = ["router"]

router = resource_router("/api/v1/tokens", "tokens")


@router.post("", status_code=201)
async def create_token(body: TokenIn, who: Auth, hg: HG) -> TokenCreated:
    require_admin(who)
    record, secret = await hg.create_api_token(body.name, body.scope)  # 404 for an unknown application
    return TokenCreated(token=token_out(record), secret=secret)


@router.get("")
async def list_tokens(who: Auth, hg: HG) -> list[TokenOut]:
    require_admin(who)
    return [token_out(t) for t in await hg.list_api_tokens()]


@router.post("/{token_id}/revoke")
async def revoke_token(token_id: str, who: Auth, hg: HG) -> TokenOut:
    require_admin(who)
    return token_out(await hg.revoke_api_token(token_id))
