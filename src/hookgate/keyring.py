"""hookgate's own JWS signing keys: generate, activate, retire, and publish the public halves as a JWKS.

Private keys are sealed with the master `SecretBox` (bound to their ``kid``) before they reach the store. The
life of a key: ``pending`` (already in the JWKS, so receivers caching it know the key before it is used),
``active`` (the one key that signs), ``previous`` (signed before; stays in the JWKS so tokens in flight keep
verifying) and ``retired`` (gone from the JWKS). Rotation is: generate, wait for receivers' JWKS caches,
activate, later retire the previous key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.keys import default_jws_alg, generate_key, key_kind, load_key, public_jwk, thumbprint_kid
from hookgate.models import SigningKey, SigningKeyStatus
from hookgate.schemes.jose import JwsSigner
from hookgate.store.base import Store

__all__ = ["KeyRing"]

_PUBLISHED = (SigningKeyStatus.PENDING, SigningKeyStatus.ACTIVE, SigningKeyStatus.PREVIOUS)
_KINDS = ("ed25519", "ec", "rsa")


def _aad(kid: str) -> bytes:
    return f"hookgate:signing-key:{kid}".encode()


class KeyRing:
    """The signing key ring over a store; the active signer is cached for ``cache_s`` seconds."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        clock: Callable[[], float] = time.time,
        cache_s: float = 5.0,
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self._cache_s = cache_s
        self._cached: tuple[float, JwsSigner | None] | None = None

    async def generate(self, kind: str = "ed25519", *, activate: bool = False) -> SigningKey:
        """A new key (``pending``, or ``active`` at once with ``activate``)."""
        if kind not in _KINDS:
            raise ConfigError(f"signing key type must be one of {', '.join(_KINDS)}")
        pem = generate_key(kind)
        key = load_key(pem, private=True)
        kid = thumbprint_kid(key)
        record = SigningKey(
            kid=kid,
            kind=key_kind(key),
            alg=default_jws_alg(key),
            private_sealed=self._box.seal(pem.encode("ascii"), _aad(kid)),
            public_jwk=json.dumps(public_jwk(key), separators=(",", ":")),
            status=SigningKeyStatus.PENDING,
            created_at=self._clock(),
        )
        await self._store.add_signing_key(record)
        if activate:
            record = await self.activate(kid)
        return record

    async def activate(self, kid: str) -> SigningKey:
        """Make ``kid`` the signing key; the previously active key becomes ``previous`` (still published)."""
        current = {k.kid: k for k in await self._store.list_signing_keys()}
        if kid in current and current[kid].status is SigningKeyStatus.RETIRED:
            raise ConfigError(f"signing key {kid} is retired and cannot be activated again")
        key = await self._store.set_signing_key_status(kid, SigningKeyStatus.ACTIVE, now=self._clock())
        self._cached = None
        return key

    async def retire(self, kid: str) -> SigningKey:
        """Remove ``kid`` from the JWKS. The active key cannot be retired: activate another first."""
        current = {k.kid: k for k in await self._store.list_signing_keys()}
        if kid in current and current[kid].status is SigningKeyStatus.ACTIVE:
            raise ConfigError(f"signing key {kid} is active; activate another key before retiring it")
        key = await self._store.set_signing_key_status(kid, SigningKeyStatus.RETIRED, now=self._clock())
        self._cached = None
        return key

    async def keys(self) -> list[SigningKey]:
        return await self._store.list_signing_keys()

    async def jwks(self) -> dict[str, Any]:
        """The JWKS document to serve at ``/.well-known/jwks.json``: every pending, active or previous key."""
        keys = await self._store.list_signing_keys()
        return {"keys": [json.loads(k.public_jwk) for k in keys if k.status in _PUBLISHED]}

    async def ensure_active(self, kind: str = "ed25519") -> SigningKey:
        """The active key, generating and activating one if the ring has none (a server's first start)."""
        for key in await self._store.list_signing_keys():
            if key.status is SigningKeyStatus.ACTIVE:
                return key
        return await self.generate(kind, activate=True)

    async def active_signer(self) -> JwsSigner | None:
        """A `JwsSigner` for the active key (``kid`` set), or None when no key is active."""
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        signer: JwsSigner | None = None
        for key in await self._store.list_signing_keys():
            if key.status is SigningKeyStatus.ACTIVE:
                pem = self._box.open(key.private_sealed, _aad(key.kid))
                signer = JwsSigner(pem, alg=key.alg, kid=key.kid)
        self._cached = (now, signer)
        return signer

    @staticmethod
    def reseal_aad(kid: str) -> bytes:
        """The associated data a key's blob is sealed with (master key rotation re-seals with it)."""
        return _aad(kid)
