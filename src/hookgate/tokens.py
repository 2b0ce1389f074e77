"""API tokens: a prefix and 256 random bits, stored only as a SHA-256, scoped to admin or to one app.

A token is looked up by the hash of what the client presents (a keyed comparison is unnecessary: the hash of
a 256-bit random value reveals nothing usable, and the lookup is by exact hash, not by prefix).
"""

from __future__ import annotations

import hashlib
import secrets
import time

from hookgate.models import ApiToken, new_id
from hookgate.store.base import Store

__all__ = ["ADMIN", "PREFIX", "issue_token", "token_hash"]

ADMIN = "admin"
PREFIX = "hgk_"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


async def issue_token(
    store: Store, name: str, scope: str, *, now: float | None = None
) -> tuple[ApiToken, str]:
    """A new token; returns the record and the token text (shown once, never stored)."""
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        id=new_id("tok"),
        name=name,
        token_hash=token_hash(token),
        scope=scope,
        created_at=time.time() if now is None else now,
    )
    await store.add_api_token(record)
    return record, token
