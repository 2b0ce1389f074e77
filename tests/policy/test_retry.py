"""Retry timing: schedule walk, jitter bounds, Retry-After precedence and schedule validation."""

from __future__ import annotations

import math
import random

import pytest

from hookgate.errors import ConfigError
from hookgate.policy.retry import DEFAULT_SCHEDULE, next_attempt_at, validate_schedule

NOW = 1_700_000_000.0


def rng(seed: int) -> random.Random:
    # Jitter needs reproducibility under test, not unpredictability.
    return random.Random(seed)  # noqa: S311


def test_default_schedule_is_svix_like() -> None:
    assert DEFAULT_SCHEDULE == (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def test_walk_to_exhaustion() -> None:
    gen = rng(1234)
    due = [next_attempt_at(k, DEFAULT_SCHEDULE, NOW, gen) for k in range(len(DEFAULT_SCHEDULE) + 2)]
    for k, delay in enumerate(DEFAULT_SCHEDULE):
        at = due[k]
        assert at is not None
        assert delay * 0.9 <= at - NOW <= delay * 1.1
    assert due[len(DEFAULT_SCHEDULE) :] == [None, None]


def test_seeded_rng_is_deterministic() -> None:
    first = [next_attempt_at(k, DEFAULT_SCHEDULE, NOW, rng(7)) for k in range(8)]
    second = [next_attempt_at(k, DEFAULT_SCHEDULE, NOW, rng(7)) for k in range(8)]
    assert first == second


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5, 1.0])
def test_jitter_bounds_over_many_seeds(jitter: float) -> None:
    schedule = (0.0, 100.0)
    seen: set[float] = set()
    for seed in range(500):
        at = next_attempt_at(1, schedule, NOW, rng(seed), jitter=jitter)
        assert at is not None
        delay = at - NOW
        assert delay >= 0.0
        assert 100.0 * (1 - jitter) - 1e-9 <= delay <= 100.0 * (1 + jitter) + 1e-9
        seen.add(delay)
    # Jitter actually spreads the retries (and zero jitter does not).
    assert (len(seen) == 1) == (jitter == 0.0)


def test_zero_delay_is_immediate() -> None:
    assert next_attempt_at(0, DEFAULT_SCHEDULE, NOW, rng(0)) == NOW


@pytest.mark.parametrize(
    ("attempts", "retry_after", "low", "high"),
    [
        pytest.param(1, 60.0, 60.0, 60.0, id="larger-wins-exactly"),
        pytest.param(1, 1.0, 4.5, 5.5, id="smaller-ignored"),
        pytest.param(1, 5.0, 4.5, 5.5, id="equal-keeps-schedule"),
        pytest.param(1, 1e9, 86400.0, 86400.0, id="capped"),
        pytest.param(1, -30.0, 4.5, 5.5, id="negative-ignored"),
        pytest.param(1, math.nan, 4.5, 5.5, id="nan-ignored"),
        pytest.param(1, math.inf, 4.5, 5.5, id="inf-ignored"),
        pytest.param(0, 10.0, 10.0, 10.0, id="first-attempt"),
    ],
)
def test_retry_after(attempts: int, retry_after: float, low: float, high: float) -> None:
    at = next_attempt_at(attempts, DEFAULT_SCHEDULE, NOW, rng(3), retry_after)
    assert at is not None
    assert low <= at - NOW <= high


def test_retry_after_custom_cap() -> None:
    at = next_attempt_at(1, DEFAULT_SCHEDULE, NOW, rng(3), 600.0, max_retry_after=120.0)
    assert at == NOW + 120.0


def test_retry_after_does_not_revive_exhausted() -> None:
    assert next_attempt_at(8, DEFAULT_SCHEDULE, NOW, rng(0), 30.0) is None


@pytest.mark.parametrize(("attempts", "jitter"), [(-1, 0.1), (0, -0.1), (0, 1.5)])
def test_bad_arguments(attempts: int, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"attempts|jitter"):
        next_attempt_at(attempts, DEFAULT_SCHEDULE, NOW, rng(0), jitter=jitter)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ([0, 5, 300], (0.0, 5.0, 300.0)),
        ((1.5,), (1.5,)),
        ([604800], (604800.0,)),
        ([0.0] * 50, (0.0,) * 50),
        (DEFAULT_SCHEDULE, DEFAULT_SCHEDULE),
    ],
)
def test_validate_schedule_ok(schedule: list[float], expected: tuple[float, ...]) -> None:
    assert validate_schedule(schedule) == expected


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([], "at least one"),
        ([1.0] * 51, "51 entries; at most 50"),
        ([0, -1], "entry 1 is -1: must be between 0 and 604800"),
        ([604801], "entry 0 is 604801: must be between"),
        ([0, math.inf], "entry 1 is inf: must be finite"),
        ([math.nan], "entry 0 is nan: must be finite"),
        ([0, "5"], "entry 1 is '5': must be a number"),
        ([True], "entry 0 is True: must be a number"),
        ("0,5", "not a string"),
    ],
)
def test_validate_schedule_errors(schedule: list[float], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate_schedule(schedule)
