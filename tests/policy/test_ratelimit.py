"""Token bucket pacing and rate-limit headers."""

from __future__ import annotations

import math

import pytest

from hookgate.errors import ConfigError
from hookgate.policy.ratelimit import TokenBucket, rate_limit_headers


def test_burst_then_waits_one_over_rate_apart() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    waits = [bucket.take(100.0) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.5, 1.0, 1.5])


def test_default_burst() -> None:
    assert TokenBucket(0.5).burst == 1.0
    assert TokenBucket(10.0).burst == 10.0


def test_refill_over_time_and_cap_at_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=2.0)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.peek_wait(0.0) == pytest.approx(1.0)
    assert bucket.peek_wait(0.25) == pytest.approx(0.75)
    assert bucket.take(1.0) == 0.0  # one token refilled
    assert bucket.take(1.0) == pytest.approx(1.0)
    # A long idle period refills only up to burst.
    assert [bucket.take(1000.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_sleeping_the_returned_wait_is_enough() -> None:
    bucket = TokenBucket(rate=4.0, burst=1.0)
    now = 0.0
    for _ in range(20):
        now += bucket.take(now)
    # 20 tokens at 4/s with one up front: the last one is due after 19 / 4 seconds.
    assert now == pytest.approx(19 / 4)


def test_reservations_are_honoured_by_later_arrivals() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(1.0)  # reserved the token at t=1
    # Someone arriving at t=1 queues behind that reservation.
    assert bucket.take(1.0) == pytest.approx(1.0)


def test_peek_does_not_take() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0)
    assert bucket.peek_wait(0.0) == 0.0
    assert bucket.peek_wait(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.peek_wait(0.0) == pytest.approx(1.0)


def test_clock_going_backwards_mints_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) == pytest.approx(1.0)
    assert bucket.take(10.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [
        (0.0, None, "positive"),
        (-1.0, None, "positive"),
        (math.nan, None, "positive"),
        (math.inf, None, "positive"),
        (1.0, 0.5, "burst"),
        (1.0, math.inf, "burst"),
    ],
)
def test_invalid_config(rate: float, burst: float | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenBucket(rate, burst)


@pytest.mark.parametrize(
    ("limit", "remaining", "reset_s", "expected"),
    [
        (100, 42, 30.0, {"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "30"}),
        (100, 1, 0.2, {"RateLimit-Limit": "100", "RateLimit-Remaining": "1", "RateLimit-Reset": "1"}),
        (
            10,
            0,
            12.1,
            {
                "RateLimit-Limit": "10",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": "13",
                "Retry-After": "13",
            },
        ),
        (
            10,
            -3,
            -1.0,
            {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "0", "Retry-After": "0"},
        ),
    ],
)
def test_rate_limit_headers(limit: int, remaining: int, reset_s: float, expected: dict[str, str]) -> None:
    assert rate_limit_headers(limit, remaining, reset_s) == expected
