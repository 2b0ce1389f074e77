"""API tokens: a prefix and 256 random bits, stored only as a SHA-256, scoped to admin or to one app.

A token is looked up by the hash of what the client presents (a keyed comparison is unnecessary: the hash of
a 256-bit random value reveals nothing usable, and the lookup is by exact hash, not by prefix).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hookgate.api.errors import Forbidden, Unauthorized
from hookgate.errors import NotFoundError
from hookgate.models import ApiToken, new_id
from hookgate.store.base import Store

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["ADMIN", "Auth", "Principal", "authenticate", "issue_token", "principal", "token_hash"]

ADMIN = "admin"
_PREFIX = "hgk_"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


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


async def issue_token(
    store: Store, name: str, scope: str, *, now: float | None = None
) -> tuple[ApiToken, str]:
    """A new token; returns the record and the token text (shown once, never stored)."""
    token = _PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        id=new_id("tok"),
        name=name,
        token_hash=token_hash(token),
        scope=scope,
        created_at=time.time() if now is None else now,
    )
    await store.add_api_token(record)
    return record, token


async def authenticate(store: Store, authorization: str | None) -> Principal | None:
    """The principal for an ``Authorization: Bearer <token>`` header, or None (unknown, revoked, absent)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(_PREFIX) or len(value) > 200:
        return None
    try:
        record = await store.find_api_token(token_hash(value))
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
    found = await authenticate(hg.store, authorization)
    if found is None:
        raise Unauthorized("a valid bearer token is required")
    return found


# module level: FastAPI resolves the (string) annotations of route functions in their module's globals
Auth = Annotated[Principal, Depends(principal)]


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("this needs an admin token")
