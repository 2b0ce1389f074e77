"""What a delivery worker remembers about each endpoint (circuit breaker, rate bucket, concurrency slots,
failing-since) and the endpoint bookkeeping it writes back: health marks and disabling a failing endpoint.

All of it is local to one worker process; several worker processes each keep their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from hookgate.errors import StoreError
from hookgate.models import Endpoint
from hookgate.policy.circuit import CircuitBreaker
from hookgate.policy.ratelimit import TokenBucket
from hookgate.store.base import Store

__all__ = ["EndpointState", "EndpointStates", "breaker_counts", "disable_endpoint", "mark_health"]

log = structlog.get_logger("hookgate.delivery")


class EndpointState:
    """What this worker remembers about one endpoint between deliveries."""

    __slots__ = (
        "breaker",
        "bucket",
        "bucket_rate",
        "failing_announced",
        "failing_since",
        "failures",
        "limit",
        "semaphore",
    )

    def __init__(self, endpoint: Endpoint, default_limit: int, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.failing_since = endpoint.failing_since
        # consecutive failed attempts seen by this worker, and whether message.attempt.failing went out for
        # this streak (None: not emitted; else whether it was published, so recovery is told the same way)
        self.failures = 0
        self.failing_announced: bool | None = None
        self.limit = endpoint.config.policy.max_concurrency or default_limit
        self.semaphore = asyncio.Semaphore(self.limit)
        rate = self.bucket_rate = endpoint.config.policy.rate_limit_per_s
        self.bucket = TokenBucket(rate) if rate else None

    def refresh(self, endpoint: Endpoint) -> None:
        """Follow configuration changes (rate limit, concurrency) without losing the breaker's history."""
        policy = endpoint.config.policy
        if policy.rate_limit_per_s != self.bucket_rate:
            rate = self.bucket_rate = policy.rate_limit_per_s
            self.bucket = TokenBucket(rate) if rate else None
        limit = policy.max_concurrency or self.limit
        if policy.max_concurrency and limit != self.limit:
            self.limit = limit
            self.semaphore = asyncio.Semaphore(limit)


class EndpointStates:
    """Endpoint id -> `EndpointState`, created on first sight and kept in step with the claimed config."""

    __slots__ = ("_breaker_factory", "_default_limit", "_states")

    def __init__(self, default_limit: int, breaker_factory: Callable[[], CircuitBreaker]) -> None:
        self._default_limit = default_limit
        self._breaker_factory = breaker_factory
        self._states: dict[str, EndpointState] = {}

    def get(self, endpoint: Endpoint) -> EndpointState:
        state = self._states.get(endpoint.id)
        if state is None:
            state = EndpointState(endpoint, self._default_limit, self._breaker_factory())
            self._states[endpoint.id] = state
        else:
            state.refresh(endpoint)
        return state

    def circuit_states(self) -> dict[str, str]:
        """Endpoint id -> breaker state, for the endpoints this worker has seen."""
        return {endpoint_id: state.breaker.state.value for endpoint_id, state in self._states.items()}


def breaker_counts(status: int | None) -> bool:
    """Only signs that the endpoint is down feed the breaker; a 4xx means it is up and answering."""
    return status is None or status >= 500 or status == 429


async def mark_health(store: Store, endpoint_id: str, *, ok: bool, now: float) -> float | None:
    """Record that the endpoint answered (or failed); the failing-since time the store keeps, if any."""
    try:
        return await store.mark_endpoint_health(endpoint_id, ok, now)
    except StoreError as exc:
        log.error("endpoint.health_failed", endpoint_id=endpoint_id, error=str(exc))
        return None


async def disable_endpoint(store: Store, endpoint: Endpoint, reason: str, now: float) -> bool:
    """Disable the endpoint as claimed (a newer version, changed or re-enabled since, stays enabled); whether
    this call disabled it."""
    try:
        # the verdict is about the endpoint as claimed: if an operator changed or re-enabled it since
        # (a new URL, say), the store keeps the newer version enabled
        disabled = await store.set_endpoint_enabled(
            endpoint.id, False, reason=reason, now=now, expected_version=endpoint.version
        )
    except StoreError as exc:
        log.error("endpoint.disable_failed", endpoint_id=endpoint.id, error=str(exc))
        return False
    if not disabled:
        log.info("endpoint.disable_skipped", endpoint_id=endpoint.id, reason="changed since claimed")
        return False
    log.warning("endpoint.disabled", endpoint_id=endpoint.id, app_id=endpoint.app_id, reason=reason)
    return True
