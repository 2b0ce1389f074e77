"""Who calls the management API: the bearer token of a request, as a `Principal` (admin or one application).

Tokens themselves (issuing, hashing) are `hookgate.tokens`, stored and looked up through the `Hookgate`
services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hookgate.api.errors import Forbidden, Unauthorized
from hookgate.errors import NotFoundError
from hookgate.tokens import ADMIN, PREFIX

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["Auth", "Principal", "authenticate", "principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin, or a token bound to one application."""

    token_id: str
    scope: str

    @property
    def is_admin(self) -> bool:
        return self.scope == ADMIN

    def may_access(self, app_id: str) -> bool:
        return self.is_admin or self.scope == app_id


async def authenticate(hg: Hookgate, authorization: str | None) -> Principal | None:
    """The principal for an ``Authorization: Bearer <token>`` header, or None (unknown, revoked, absent)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(PREFIX) or len(value) > 200:
        return None
    try:
        record = await hg.find_api_token(value)
    except NotFoundError:
        return None
    if record.revoked_at is not None:
        return None
    return Principal(record.id, record.scope)


# declared as an HTTP bearer security scheme, so the OpenAPI document (and clients generated from it) know
# how to authenticate; auto_error off: every failure becomes our own 401 error shape
_bearer = HTTPBearer(auto_error=False, description="An API token, hgk_...: admin, or scoped to one app")


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
) -> Principal:
    """The FastAPI dependency: the caller, from ``Authorization: Bearer <token>``; 401 otherwise."""
    hg: Hookgate = request.app.state.hookgate
    authorization = f"Bearer {credentials.credentials}" if credentials is not None else None
    found = await authenticate(hg, authorization)
    if found is None:
        raise Unauthorized("a valid bearer token is required")
    return found


# module level: FastAPI resolves the (string) annotations of route functions in their module's globals
Auth = Annotated[Principal, Depends(principal)]


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("this needs an admin token")
