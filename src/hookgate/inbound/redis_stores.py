"""Inbound idempotency and rate limits on Redis (``redis.asyncio``): shared by every process of a deployment.

Keys live under ``hookgate:idem:`` and ``hookgate:rl:`` (the prefixes are constructor options).

Idempotency: the value is ``p:<expires_at>`` while a claim is in progress and ``d:<expires_at>`` once done,
with a Redis expiry (PX) of the same length, so Redis forgets the key when the lease or TTL runs out. The
logical expiry in the value is what a claim compares with the caller's ``now`` (the contract passes the time
explicitly); the PX expiry, on the server's clock, only bounds memory. A claim is one Lua script (read the
value, take the key over if it is absent or expired), so it is atomic on the server; `complete` is a plain
``SET ... PX`` and `release` a ``DEL``.

Rate limits: one Lua script runs the token-bucket step of `hookgate.inbound.stores.bucket_after` on the
server (Lua numbers are the same IEEE doubles; tokens travel as ``%.17g`` strings, which round-trip exactly)
and stores tokens and timestamp in a hash whose PEXPIRE is the time until the bucket is full again.

Every Redis error (connection refused, timeout, a script error) becomes `StoreError` in `_call`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hookgate.errors import StoreError
from hookgate.inbound.stores import ClaimState, RateDecision, decision

__all__ = ["IDEMPOTENCY_PREFIX", "RATE_LIMIT_PREFIX", "RedisIdempotencyStore", "RedisRateLimiter"]

T = TypeVar("T")
IDEMPOTENCY_PREFIX = "hookgate:idem:"
RATE_LIMIT_PREFIX = "hookgate:rl:"

# KEYS[1] the event key; ARGV: now, the value to store when claiming, its PX in ms.
# Returns "c" (claimed), "p" (in progress) or "d" (done).
_CLAIM_LUA = """
local value = redis.call('GET', KEYS[1])
if value then
    local sep = string.find(value, ':', 1, true)
    local expires_at = sep and tonumber(string.sub(value, sep + 1))
    if not expires_at or expires_at > tonumber(ARGV[1]) then
        local state = string.sub(value, 1, 1)
        if state == 'd' then return 'd' end
        return 'p'
    end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 'c'
"""

# KEYS[1] the bucket; ARGV: rate, burst, now. Returns {allowed (0/1), tokens as a %.17g string}.
_HIT_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'updated_at')
local tokens = burst
local last = now
if saved[1] and saved[2] then
    tokens = tonumber(saved[1])
    last = tonumber(saved[2])
end
local elapsed = now - last
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
end
if now > last then last = now end
local encoded = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', encoded, 'updated_at', string.format('%.17g', last))
-- forget the bucket once it is full again (a new bucket starts full): a second's margin for clock drift,
-- at most a year (a tiny rate would overflow the integer PEXPIRE takes)
local ttl_ms = math.min(math.ceil((burst - tokens) / rate * 1000) + 1000, 31536000000)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl_ms))
return {allowed, encoded}
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000.0))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _RedisStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str, owns_client: bool = False) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Await one Redis call; the one place this store translates driver errors."""
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis inbound store error: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        """Close the client if this store created it (`from_url`); a client passed in stays open."""
        if self._owns_client:
            await self._client.aclose()


class RedisIdempotencyStore(_RedisStore):
    """``RedisIdempotencyStore(client)`` or ``RedisIdempotencyStore.from_url("redis://...")``."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = IDEMPOTENCY_PREFIX, owns_client: bool = False
    ) -> None:
        super().__init__(client, prefix=prefix, owns_client=owns_client)
        self._claim = client.register_script(_CLAIM_LUA)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = IDEMPOTENCY_PREFIX) -> RedisIdempotencyStore:
        return cls(aioredis.Redis.from_url(url), prefix=prefix, owns_client=True)

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        lease_until = float(now + lease_s)
        args: list[str | int] = [repr(float(now)), f"p:{lease_until!r}", _ms(lease_s)]
        result = await self._call(self._claim(keys=[self._prefix + key], args=args))
        state = _text(result)
        if state == "c":
            return ClaimState.CLAIMED
        return ClaimState.DONE if state == "d" else ClaimState.IN_PROGRESS

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        expires_at = float(now + ttl_s)
        await self._call(self._client.set(self._prefix + key, f"d:{expires_at!r}", px=_ms(ttl_s)))

    async def release(self, key: str) -> None:
        await self._call(self._client.delete(self._prefix + key))


class RedisRateLimiter(_RedisStore):
    """``RedisRateLimiter(client)`` or ``RedisRateLimiter.from_url("redis://...")``."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = RATE_LIMIT_PREFIX, owns_client: bool = False
    ) -> None:
        super().__init__(client, prefix=prefix, owns_client=owns_client)
        self._hit = client.register_script(_HIT_LUA)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = RATE_LIMIT_PREFIX) -> RedisRateLimiter:
        return cls(aioredis.Redis.from_url(url), prefix=prefix, owns_client=True)

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        if not rate > 0:
            # the memory limiter would divide by zero in `decision`; fail before touching Redis
            raise ValueError("rate must be positive")
        args = [repr(float(rate)), repr(float(burst)), repr(float(now))]
        result = await self._call(self._hit(keys=[self._prefix + key], args=args))
        allowed, tokens = result
        return decision(float(_text(tokens)), bool(int(allowed)), rate=rate, burst=burst)
