"""What the inbound pipeline remembers: which event ids were processed, and how fast each client sends.

Two small protocols, `IdempotencyStore` and `RateLimiter`, with in-memory implementations here (bounded, with
TTLs: the embedded default). SQLite, PostgreSQL and Redis implementations live in their own modules so a
process imports only the driver it uses; one contract suite (tests/inbound) runs against all of them.

Idempotency is claim-then-process: `claim` marks an id in progress (for ``lease_s``, so a crashed process
does not block the id forever); the caller then either `complete`\\s it (remembered for ``ttl_s``) or
`release`\\s it when its handler failed, so the sender's retry is processed.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "ClaimState",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
]


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # new: the caller owns the id and must complete or release it
    IN_PROGRESS = "in_progress"  # another request holds it right now
    DONE = "done"  # already processed


@runtime_checkable
class IdempotencyStore(Protocol):
    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState: ...

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None: ...

    async def release(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the bucket is full again (allowed) or a token is available (refused)


@runtime_checkable
class RateLimiter(Protocol):
    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        """Take one token for ``key`` if there is one; a refused request reserves nothing."""
        ...


def bucket_after(tokens: float, last: float, *, rate: float, burst: float, now: float) -> tuple[float, bool]:
    """The token-bucket step every limiter shares: refill since ``last``, take one if available."""
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, True
    return tokens, False


def decision(tokens: float, allowed: bool, *, rate: float, burst: float) -> RateDecision:
    reset = (burst - tokens) / rate if allowed else (1.0 - tokens) / rate
    return RateDecision(allowed, int(burst), max(0, math.floor(tokens)), reset)


class MemoryIdempotencyStore:
    """Bounded: beyond ``max_entries`` the least recently used entries are forgotten."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        # key -> (done, expires_at)
        self._entries: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return ClaimState.DONE if entry[0] else ClaimState.IN_PROGRESS
        self._entries[key] = (False, now + lease_s)
        self._entries.move_to_end(key)
        self._evict(now)
        return ClaimState.CLAIMED

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        self._entries[key] = (True, now + ttl_s)
        self._entries.move_to_end(key)
        self._evict(now)

    async def release(self, key: str) -> None:
        self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        # least recently claimed first; the bound keeps a flood of fresh ids from exhausting memory
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        del now

    def __len__(self) -> int:
        return len(self._entries)


class MemoryRateLimiter:
    """Token buckets per key, bounded like `MemoryIdempotencyStore` (a forgotten bucket starts full)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        tokens, last = self._buckets.get(key, (burst, now))
        tokens, allowed = bucket_after(tokens, last, rate=rate, burst=burst, now=now)
        self._buckets[key] = (tokens, max(last, now))
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return decision(tokens, allowed, rate=rate, burst=burst)
