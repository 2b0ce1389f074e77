"""A sender's public keys fetched from its JWKS URL, cached, refreshed, and turned into a JWS verifier.

The fetch goes through the SSRF-guarded outbound `Transport` (HTTPS only unless the source allows otherwise;
non-global addresses only when allowlisted), with the TLS context of the source's ``jwks_tls`` when it has
one. The document is cached for ``ttl_s``; a token naming a ``kid`` the cached set does not have triggers one
early refetch (at most every ``min_refetch_s``), which is how a sender's key rotation reaches us without
waiting for the TTL, and how a flood of made-up kids does not turn into a flood of fetches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from hookgate.errors import DeliveryError, JwksUnavailableError, KeyFormatError
from hookgate.outbound.security import tls_context
from hookgate.outbound.transport import Transport
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.jose import JwsVerifier

__all__ = ["JwksFetcher"]

_MAX_JWKS_BYTES = 256 * 1024


class JwksFetcher:
    def __init__(
        self,
        url: str,
        *,
        address_policy: AddressPolicy | None = None,
        insecure_ok: bool = False,
        ttl_s: float = 300.0,
        min_refetch_s: float = 30.0,
        transport: Transport | None = None,
        tls: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        claims: ClaimRules | None = ClaimRules(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        self.url = url
        # the source's jwks_tls, an endpoint-shaped tls section (None: the system trust store, TLS 1.2+)
        self._ssl_context = tls_context(tls, now=clock()) if tls else None
        self._claims = claims
        self._transport = transport or Transport(
            address_policy=address_policy or AddressPolicy(), max_response_bytes=_MAX_JWKS_BYTES
        )
        self._insecure_ok = insecure_ok
        self._ttl_s = ttl_s
        self._min_refetch_s = min_refetch_s
        self._clock = clock
        self._verifier: JwsVerifier | None = None
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def verifier(self, *, refresh: bool = False) -> JwsVerifier:
        """The cached verifier; refetched when older than the TTL, or on ``refresh`` (rate-limited)."""
        now = self._clock()
        age = now - self._fetched_at
        if self._verifier is not None and age < self._ttl_s and not (refresh and age >= self._min_refetch_s):
            return self._verifier
        async with self._lock:
            age = self._clock() - self._fetched_at
            if (
                self._verifier is not None
                and age < self._ttl_s
                and not (refresh and age >= self._min_refetch_s)
            ):
                return self._verifier  # someone else refreshed while we waited
            try:
                self._verifier = await self._fetch()
            except JwksUnavailableError:
                if self._verifier is None:
                    raise
                # keep verifying with the last good keys; the failure is retried after min_refetch_s
            self._fetched_at = self._clock()
            return self._verifier

    async def _fetch(self) -> JwsVerifier:
        self.fetches += 1
        try:
            response = await self._transport.send(
                "GET",
                self.url,
                {"Accept": "application/json"},
                b"",
                timeout_s=10.0,
                insecure_ok=self._insecure_ok,
                ssl_context=self._ssl_context,
            )
        except DeliveryError as exc:
            raise JwksUnavailableError(f"JWKS {self._origin()} unreachable: {exc}") from None
        if response.status != 200:
            raise JwksUnavailableError(f"JWKS {self._origin()} answered HTTP {response.status}")
        try:
            document = json.loads(response.body)
            return JwsVerifier(jwks=[document], claims=self._claims)
        except (ValueError, KeyFormatError) as exc:
            raise JwksUnavailableError(
                f"JWKS {self._origin()} is not a usable JWKS document: {exc}"
            ) from None

    def _origin(self) -> str:
        return self.url.split("?", 1)[0]

    async def close(self) -> None:
        await self._transport.close()
