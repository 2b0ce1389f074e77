"""Circuit breaker state machine."""

from __future__ import annotations

import pytest

from hookgate.errors import ConfigError
from hookgate.policy.circuit import CircuitBreaker, CircuitState


def state(cb: CircuitBreaker) -> CircuitState:
    # A call, not the property, so mypy does not narrow the state across the mutating calls in between.
    return cb.state


def test_full_walk() -> None:
    cb = CircuitBreaker(failure_threshold=3, reset_timeout=10.0, max_reset_timeout=35.0)
    assert state(cb) is CircuitState.CLOSED
    assert cb.allow(0.0)
    assert cb.retry_at(0.0) == 0.0

    # Failures below the threshold keep it closed; a success resets the count.
    cb.record_failure(1.0)
    cb.record_failure(2.0)
    assert (state(cb), cb.failures) == (CircuitState.CLOSED, 2)
    cb.record_success(3.0)
    assert cb.failures == 0
    for t in (4.0, 5.0, 6.0):
        assert cb.allow(t)
        cb.record_failure(t)
    assert state(cb) is CircuitState.OPEN
    assert cb.failures == 3

    # Open for reset_timeout from the failure that tripped it.
    assert not cb.allow(6.0)
    assert not cb.allow(15.999)
    assert cb.retry_at(10.0) == 16.0

    # Exactly one probe once the timeout has passed.
    assert cb.allow(16.0)
    assert state(cb) is CircuitState.HALF_OPEN
    assert not cb.allow(16.0)
    assert not cb.allow(100.0)
    assert cb.retry_at(17.0) == 27.0

    # Failed probe: open again, twice as long.
    cb.record_failure(20.0)
    assert state(cb) is CircuitState.OPEN
    assert cb.retry_at(20.0) == 40.0
    assert not cb.allow(39.0)
    assert cb.allow(40.0)
    assert not cb.allow(40.0)

    # Doubling is capped: 20 -> 40 would exceed 35.
    cb.record_failure(41.0)
    assert cb.retry_at(41.0) == 76.0
    assert cb.allow(76.0)
    cb.record_failure(76.0)
    assert cb.retry_at(76.0) == 111.0

    # Successful probe closes and restores the base timeout.
    assert cb.allow(111.0)
    cb.record_success(112.0)
    assert (state(cb), cb.failures) == (CircuitState.CLOSED, 0)
    assert cb.allow(112.0)
    assert cb.allow(112.0)
    for t in (113.0, 114.0, 115.0):
        cb.record_failure(t)
    assert state(cb) is CircuitState.OPEN
    assert cb.retry_at(115.0) == 125.0


def test_late_failure_while_open_does_not_extend() -> None:
    cb = CircuitBreaker(failure_threshold=1, reset_timeout=10.0)
    cb.record_failure(0.0)
    cb.record_failure(5.0)  # a request admitted before opening, failing late
    assert cb.retry_at(5.0) == 10.0
    assert cb.failures == 2


def test_state_transition_is_lazy() -> None:
    cb = CircuitBreaker(failure_threshold=1, reset_timeout=1.0)
    cb.record_failure(0.0)
    assert state(cb) is CircuitState.OPEN  # even though no one has asked since
    assert cb.allow(5.0)
    assert state(cb) is CircuitState.HALF_OPEN


def test_state_values() -> None:
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": True}, "failure_threshold"),
        ({"reset_timeout": 0.0}, "reset_timeout"),
        ({"reset_timeout": float("inf")}, "reset_timeout"),
        ({"reset_timeout": 60.0, "max_reset_timeout": 30.0}, "max_reset_timeout"),
    ],
)
def test_invalid_config(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]
