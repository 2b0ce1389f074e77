"""Sign-in throttling for the dashboard: failed admin-token sign-ins per client address drain a token bucket
(`hookgate.policy.ratelimit.TokenBucket`); an address with none left is answered 429 with Retry-After.

The address is the connection's peer: behind a reverse proxy every client shares the proxy's budget (the
console does not trust ``X-Forwarded-For``), which errs on the side of refusing guesses.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from hookgate.policy.ratelimit import TokenBucket

__all__ = ["FAILURES_BURST", "FAILURES_PER_MINUTE", "LoginThrottle"]

# five wrong tokens in a row, then one more guess a minute: plenty for a person, useless for guessing a
# 256-bit token (it is a brake on noise and on leaked-token probing, not the token's security)
FAILURES_BURST = 5
FAILURES_PER_MINUTE = 1.0
# addresses remembered; the oldest is forgotten first (an attacker rotating addresses gains nothing a
# bigger table would stop)
_MAX_ADDRESSES = 10_000


class LoginThrottle:
    """Per-address budgets of failed sign-ins, in memory (one process: each API process keeps its own)."""

    def __init__(self, burst: int = FAILURES_BURST, per_minute: float = FAILURES_PER_MINUTE) -> None:
        self._burst = burst
        self._rate = per_minute / 60.0
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def retry_after(self, address: str, now: float) -> int:
        """Whole seconds this address must wait before trying again (0: it may try now)."""
        bucket = self._buckets.get(address)
        wait = 0.0 if bucket is None else bucket.peek_wait(now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, now: float) -> None:
        """Record a failed sign-in."""
        bucket = self._buckets.pop(address, None) or TokenBucket(self._rate, burst=self._burst)
        bucket.take(now)
        self._buckets[address] = bucket
        while len(self._buckets) > _MAX_ADDRESSES:
            self._buckets.popitem(last=False)
