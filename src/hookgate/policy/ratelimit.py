"""Rate limiting: a reserving token bucket to pace outbound requests, and the rate-limit headers."""

from __future__ import annotations

import math

from hookgate.errors import ConfigError

__all__ = ["TokenBucket", "rate_limit_headers"]


class TokenBucket:
    """A token bucket that refills at ``rate`` tokens per second up to ``burst``, starting full.

    ``take`` always reserves a token, letting the balance go negative: a caller told to wait N seconds is
    guaranteed its token after sleeping N, and concurrent callers queue up 1/rate apart instead of racing.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
            raise ConfigError(f"rate limit must be a positive number of requests per second, got {rate!r}")
        if burst is None:
            burst = max(1.0, float(rate))
        # A bucket that cannot hold one whole token would never let a request through without waiting.
        if isinstance(burst, bool) or not math.isfinite(burst) or burst < 1:
            raise ConfigError(f"rate limit burst must be a finite number >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = self._burst
        self._last: float | None = None

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def _balance(self, now: float) -> float:
        if self._last is None:
            return self._tokens
        # A clock that steps backwards must not mint tokens (or take them away).
        elapsed = max(0.0, now - self._last)
        return min(self._burst, self._tokens + elapsed * self._rate)

    def take(self, now: float) -> float:
        """Take one token; return 0.0 if it was available now, else the seconds until the reserved one is."""
        self._tokens = self._balance(now) - 1.0
        self._last = now if self._last is None else max(self._last, now)
        if self._tokens >= 0.0:
            return 0.0
        return -self._tokens / self._rate

    def peek_wait(self, now: float) -> float:
        """Seconds until a token would be available, without taking one."""
        tokens = self._balance(now)
        if tokens >= 1.0:
            return 0.0
        return (1.0 - tokens) / self._rate


def rate_limit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    """Build RateLimit-Limit/-Remaining/-Reset (IETF httpapi draft names), plus Retry-After when exhausted.

    Reset and Retry-After are whole seconds rounded up, so a client that obeys them never arrives early.
    """
    reset = math.ceil(max(0.0, reset_s))
    headers = {
        "RateLimit-Limit": str(max(0, limit)),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(reset),
    }
    if remaining <= 0:
        headers["Retry-After"] = str(reset)
    return headers
