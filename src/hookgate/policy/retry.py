"""Retry timing: when the next delivery attempt is due, and validation of operator-supplied schedules."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from hookgate.errors import ConfigError

__all__ = ["DEFAULT_SCHEDULE", "MAX_DELAY", "MAX_SCHEDULE_LENGTH", "next_attempt_at", "validate_schedule"]

# schedule[k] is the delay before attempt k+1: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
# Eight attempts in total, spread over roughly a day, like Svix.
DEFAULT_SCHEDULE: tuple[float, ...] = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)

MAX_SCHEDULE_LENGTH = 50
MAX_DELAY = 7 * 24 * 3600.0


def next_attempt_at(
    attempts: int,
    schedule: Sequence[float],
    now: float,
    rng: random.Random,
    retry_after: float | None = None,
    *,
    jitter: float = 0.1,
    max_retry_after: float = 86400.0,
) -> float | None:
    """Return the Unix time the next attempt is due after ``attempts`` attempts, or None when exhausted.

    ``attempts == 0`` asks for the first attempt (delay ``schedule[0]``). The scheduled delay gets
    ±``jitter`` (a fraction of the delay) so that endpoints failing together do not get retried in lockstep.
    A server's ``retry_after`` (seconds from now) wins when it is longer than the scheduled delay, capped at
    ``max_retry_after`` so a hostile or broken header cannot park a delivery forever.
    """
    if attempts < 0:
        raise ValueError(f"attempts must be >= 0, got {attempts}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be between 0 and 1, got {jitter}")
    if attempts >= len(schedule):
        return None
    delay = float(schedule[attempts])
    if retry_after is not None and math.isfinite(retry_after):
        honoured = min(max(retry_after, 0.0), max_retry_after)
        if honoured > delay:
            # No jitter here: jittering downwards would retry before the time the server asked for.
            return now + honoured
    spread = delay * jitter
    return now + max(0.0, delay + rng.uniform(-spread, spread))


def validate_schedule(schedule: Sequence[float]) -> tuple[float, ...]:
    """Check an operator-supplied schedule and return it as a tuple of floats; raise ConfigError otherwise."""
    if isinstance(schedule, (str, bytes)):
        raise ConfigError("retry schedule must be a list of delays in seconds, not a string")
    items = tuple(schedule)
    if not items:
        raise ConfigError("retry schedule must contain at least one delay")
    if len(items) > MAX_SCHEDULE_LENGTH:
        raise ConfigError(
            f"retry schedule has {len(items)} entries; at most {MAX_SCHEDULE_LENGTH} are allowed"
        )
    result: list[float] = []
    for index, entry in enumerate(items):
        # bool is an int subclass; True as "1 second" is almost certainly a config mistake.
        if isinstance(entry, bool) or not isinstance(entry, (int, float)):
            raise ConfigError(f"retry schedule entry {index} is {entry!r}: must be a number of seconds")
        delay = float(entry)
        if not math.isfinite(delay):
            raise ConfigError(f"retry schedule entry {index} is {entry!r}: must be finite")
        if delay < 0.0 or delay > MAX_DELAY:
            raise ConfigError(
                f"retry schedule entry {index} is {entry!r}: "
                f"must be between 0 and {MAX_DELAY:.0f} seconds (7 days)"
            )
        result.append(delay)
    return tuple(result)
