"""Circuit breaking: stop hammering an endpoint after consecutive failures, and probe it back to health."""

from __future__ import annotations

import enum
import math

from hookgate.errors import ConfigError

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(enum.Enum):
    """CLOSED sends freely; OPEN sends nothing until a deadline; HALF_OPEN has a single probe in flight."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A per-endpoint circuit breaker with exponential back-off between failed probes.

    ``failure_threshold`` consecutive failures open the circuit for ``reset_timeout`` seconds. After that one
    probe is let through; its failure re-opens the circuit for twice as long (capped at
    ``max_reset_timeout``), its success closes it and restores the base timeout. The OPEN -> HALF_OPEN
    transition happens lazily inside ``allow``, since there is no clock to watch.
    """

    __slots__ = (
        "_failure_threshold",
        "_failures",
        "_max_reset_timeout",
        "_open_until",
        "_reset_timeout",
        "_state",
        "_timeout",
    )

    def __init__(
        self, failure_threshold: int = 5, reset_timeout: float = 30.0, max_reset_timeout: float = 600.0
    ) -> None:
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ConfigError(
                f"circuit breaker failure_threshold must be an integer >= 1, got {failure_threshold!r}"
            )
        if not math.isfinite(reset_timeout) or reset_timeout <= 0:
            raise ConfigError(
                f"circuit breaker reset_timeout must be a positive number of seconds, got {reset_timeout!r}"
            )
        if not math.isfinite(max_reset_timeout) or max_reset_timeout < reset_timeout:
            raise ConfigError(
                f"circuit breaker max_reset_timeout must be finite and >= reset_timeout ({reset_timeout!r}), "
                f"got {max_reset_timeout!r}"
            )
        self._failure_threshold = failure_threshold
        self._reset_timeout = float(reset_timeout)
        self._max_reset_timeout = float(max_reset_timeout)
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._timeout = self._reset_timeout
        self._open_until = 0.0

    @property
    def state(self) -> CircuitState:
        """The stored state; an expired OPEN circuit reports OPEN until ``allow`` admits the probe."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    @property
    def open_until(self) -> float:
        return self._open_until

    @property
    def current_timeout(self) -> float:
        """The open period the next (or current) opening uses; doubles with each failed probe."""
        return self._timeout

    def allow(self, now: float) -> bool:
        """Whether a request may be sent now; admitting the half-open probe is a state change."""
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            if now < self._open_until:
                return False
            # Exactly one probe: the transition itself marks it as in flight, so later callers see HALF_OPEN.
            self._state = CircuitState.HALF_OPEN
            return True
        return False

    def record_success(self, now: float) -> None:
        """Any success proves the endpoint works: close and forget the failure history."""
        del now  # part of the uniform (event, now) interface; a success needs no timestamp
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._timeout = self._reset_timeout
        self._open_until = 0.0

    def record_failure(self, now: float) -> None:
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN:
            self._timeout = min(self._timeout * 2.0, self._max_reset_timeout)
            self._open(now)
        elif self._state is CircuitState.CLOSED and self._failures >= self._failure_threshold:
            self._open(now)
        # OPEN: a late failure from a request admitted before opening changes nothing but the count; extending
        # the deadline would punish the endpoint twice for one outage.

    def retry_at(self, now: float) -> float:
        """When the next request may go: now if closed, the open deadline, or later while a probe is out."""
        if self._state is CircuitState.CLOSED:
            return now
        if self._state is CircuitState.OPEN:
            return self._open_until
        return now + self._reset_timeout

    def _open(self, now: float) -> None:
        self._state = CircuitState.OPEN
        self._open_until = now + self._timeout
