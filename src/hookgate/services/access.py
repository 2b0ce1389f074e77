"""Who may do what, and with which keys: management API tokens, hookgate's JWS key ring, the master key."""

from __future__ import annotations

from typing import Any

from hookgate.config.rules import validate_text
from hookgate.inbound.managed import source_aad
from hookgate.keyring import KeyRing
from hookgate.models import ApiToken
from hookgate.services._base import ServiceBase
from hookgate.tokens import ADMIN, issue_token, token_hash
from hookgate.vault import (
    endpoint_aad,
)

__all__ = ["AccessServices"]


class AccessServices(ServiceBase):
    """API tokens, the signing key ring and master key rotation."""

    async def create_api_token(self, name: str, scope: str) -> tuple[ApiToken, str]:
        """A new API token for ``scope`` ("admin" or an application id); its text is returned only now."""
        name = validate_text(name, "token name", max_length=128)
        scope = validate_text(scope, "token scope", max_length=64)
        if scope != ADMIN:
            await self.store.get_application(scope)  # NotFoundError for an unknown application
        return await issue_token(self.store, name, scope, now=self._clock())

    async def find_api_token(self, token: str) -> ApiToken:
        """The record of a presented token (revoked ones too), by its hash; `NotFoundError` if unknown."""
        return await self.store.find_api_token(token_hash(token))

    async def list_api_tokens(self) -> list[ApiToken]:
        return await self.store.list_api_tokens()

    async def revoke_api_token(self, token_id: str) -> ApiToken:
        """Revoke a token now (revoking it again keeps the first time)."""
        return await self.store.revoke_api_token(token_id, now=self._clock())

    @property
    def keyring(self) -> KeyRing:
        """hookgate's JWS signing keys (generate, activate, retire)."""
        return KeyRing(self.store, self._box(), clock=self._clock)

    async def jwks(self) -> dict[str, Any]:
        """The public signing keys as a JWKS document (served at ``/.well-known/jwks.json``)."""
        return await self.keyring.jwks()

    async def rotate_master_key(self) -> int:
        """Re-seal every stored secret and private key under the master key ring's primary key.

        Rotation: put the new key first in ``HOOKGATE_MASTER_KEY`` (keeping the old one after it), call this,
        then remove the old key. Returns how many sealed records were rewritten.
        """
        box = self._box()

        def reseal(kind: str, record_id: str, blob: bytes) -> bytes:
            if kind == "endpoint":
                aad = endpoint_aad(record_id)
            elif kind == "source":
                aad = source_aad(record_id)
            else:
                aad = KeyRing.reseal_aad(record_id)
            return box.reseal(blob, aad)

        return await self.store.reseal(reseal)
