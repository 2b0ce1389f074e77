"""Delivery numbers over time from the store: attempts per period, success rate and latency percentiles, the
same for every API process and kept across restarts (the overview's charts; /metrics counts the same things
per process, with the same latency buckets)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hookgate.services._base import ServiceBase
from hookgate.store.base import LATENCY_BOUNDS_MS

__all__ = ["LATENCY_BUCKETS", "Period", "StatsServices"]

# seconds, as /metrics' histogram exports them; the store groups attempts by the same bounds in ms
LATENCY_BUCKETS = tuple(ms / 1000 for ms in LATENCY_BOUNDS_MS)
_ABOVE = 60.0  # what a percentile beyond the last bound is shown as


@dataclass(slots=True)
class Period:
    """The attempts that started in one period: how many got a 2xx, how many did not, and how long they took
    (a count per latency bucket: ``latency[i]`` took at most ``LATENCY_BUCKETS[i]``, the last one more)."""

    start: float
    delivered: int = 0
    failed: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile of the attempt durations (seconds), as the upper bound of its bucket."""
        total = sum(self.latency)
        if not total:
            return None
        rank, seen = q * total, 0
        for bound, count in zip((*LATENCY_BUCKETS, _ABOVE), self.latency, strict=True):
            seen += count
            if seen >= rank:
                return float(bound)
        return _ABOVE


class StatsServices(ServiceBase):
    """Attempt numbers over time, read from the store."""

    async def attempt_history(self, *, minutes: int, per: int = 1) -> list[Period]:
        """One `Period` of ``per`` minutes each over the last ``minutes`` (rounded to whole periods), oldest
        first, empty ones for quiet periods; the last one is the current, still running period."""
        if minutes < 1 or per < 1:
            raise ValueError("minutes and per must be at least 1")
        step = 60 * per
        now = self._clock()
        current = int(now // step)
        first = current - max(minutes // per, 1) + 1
        periods = {n: Period(start=n * float(step)) for n in range(first, current + 1)}
        rows = await self.store.attempt_buckets(
            since=first * float(step), until=(current + 1.0) * step, step=step
        )
        for row in rows:
            period = periods.get(row.period)
            if period is None:  # a clock at the boundary: the store's rounding may differ from ours
                continue
            period.delivered += row.delivered
            period.failed += row.attempts - row.delivered
            period.latency[row.bucket] += row.attempts
        return list(periods.values())
