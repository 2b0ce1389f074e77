"""OAuth2 client-credentials tokens for delivery: one cached token per endpoint, refreshed single-flight.

The sans-I/O flow (`hookgate.schemes.oauth2`) builds the token request and parses the answer; this module
drives it over the worker's SSRF-guarded `Transport`, with the endpoint's TLS context (its CA bundle,
version floor and client certificate), because the token endpoint usually sits with the receiver, behind the
same private CA or mTLS requirement. All delivery tasks for an endpoint share one token;
when it is due for refresh (before it expires, per `TokenPolicy`) exactly one task fetches a new one while
the others wait for it. After a 401 from the endpoint the worker asks for a fresh token once (`refresh`),
which replaces the cached token only if nobody has replaced it already.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from hookgate.errors import DeliveryError, OAuth2Error
from hookgate.outbound.transport import Transport
from hookgate.schemes.oauth2 import ClientCredentials, Token, TokenPolicy, build_token_request
from hookgate.schemes.oauth2 import parse_token_response as _parse

__all__ = ["TokenCache"]

_TOKEN_TIMEOUT_S = 10.0


# After a failed token fetch, tasks that were waiting for it get the same error for this long instead of
# each asking again: a broken token endpoint sees one request per pause, not one per queued delivery.
_FAILURE_HOLD_S = 5.0


@dataclass(slots=True)
class _Slot:
    lock: asyncio.Lock
    token: Token | None = None
    failed_at: float | None = None
    failure: OAuth2Error | None = None


class TokenCache:
    """Tokens by endpoint version (``key``): a configuration change starts a fresh token."""

    def __init__(
        self,
        transport: Transport,
        *,
        policy: TokenPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._policy = policy or TokenPolicy()
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self.fetches = 0  # how many token requests were made (observability and tests)

    def _slot(self, key: str) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(asyncio.Lock())
        return slot

    async def get(
        self,
        key: str,
        creds: ClientCredentials,
        *,
        insecure_ok: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Token:
        """A token that is not due for refresh; fetches one (once, for all waiting tasks) when needed.

        ``ssl_context`` is the endpoint's TLS context (None: the transport's default trust store)."""
        slot = self._slot(key)
        token = slot.token
        if token is not None and not self._policy.needs_refresh(token, self._clock()):
            return token
        async with slot.lock:
            token = slot.token
            if token is not None and not self._policy.needs_refresh(token, self._clock()):
                return token  # another task refreshed it while we waited
            return await self._fetch_into(slot, creds, insecure_ok=insecure_ok, ssl_context=ssl_context)

    async def refresh(
        self,
        key: str,
        creds: ClientCredentials,
        rejected: Token,
        *,
        insecure_ok: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Token:
        """The endpoint refused ``rejected`` (401): fetch a new token unless one already replaced it."""
        slot = self._slot(key)
        async with slot.lock:
            if slot.token is not None and slot.token is not rejected:
                return slot.token
            return await self._fetch_into(slot, creds, insecure_ok=insecure_ok, ssl_context=ssl_context)

    def forget(self, key: str) -> None:
        self._slots.pop(key, None)

    async def _fetch_into(
        self, slot: _Slot, creds: ClientCredentials, *, insecure_ok: bool, ssl_context: ssl.SSLContext | None
    ) -> Token:
        now = self._clock()
        if slot.failure is not None and slot.failed_at is not None and now - slot.failed_at < _FAILURE_HOLD_S:
            raise OAuth2Error(str(slot.failure), error=slot.failure.error, status=slot.failure.status)
        try:
            slot.token = await self._fetch(creds, insecure_ok=insecure_ok, ssl_context=ssl_context)
        except OAuth2Error as exc:
            slot.failure, slot.failed_at = exc, self._clock()
            raise
        slot.failure = slot.failed_at = None
        return slot.token

    async def _fetch(
        self, creds: ClientCredentials, *, insecure_ok: bool, ssl_context: ssl.SSLContext | None
    ) -> Token:
        request = build_token_request(creds)
        self.fetches += 1
        try:
            response = await self._transport.send(
                request.method,
                request.url,
                request.headers,
                request.body,
                timeout_s=_TOKEN_TIMEOUT_S,
                insecure_ok=insecure_ok,
                ssl_context=ssl_context,
            )
        except DeliveryError as exc:
            raise OAuth2Error(f"token endpoint unreachable: {exc}") from None
        return _parse(response.status, response.body, now=self._clock())
