"""When an inbound source's refusals spike: at least ``threshold`` refusals within a sliding ``window_s``.

Pure: the times come from the decisions themselves. A spike is reported once when it starts; the watch
re-arms when the count in the window falls below the threshold again, so a sustained attack is one event,
not one per refused request.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

__all__ = ["RefusalWatch", "Spike"]


@dataclass(frozen=True, slots=True)
class Spike:
    source: str
    refusals: int  # within the window, when the spike started
    at: float


class RefusalWatch:
    """Feed it each refusal (`refused`); it answers a `Spike` when one starts, else None."""

    def __init__(self, threshold: int, window_s: float) -> None:
        if threshold < 1 or not window_s > 0:
            raise ValueError("threshold must be at least 1 and window_s positive")
        self.threshold = threshold
        self.window_s = window_s
        self._times: dict[str, collections.deque[float]] = {}
        self._spiking: set[str] = set()

    def refused(self, source: str, at: float) -> Spike | None:
        times = self._times.setdefault(source, collections.deque())
        times.append(at)
        self._expire(source, times, at)
        if len(times) >= self.threshold and source not in self._spiking:
            self._spiking.add(source)
            return Spike(source, len(times), at)
        return None

    def _expire(self, source: str, times: collections.deque[float], now: float) -> None:
        start = now - self.window_s
        while times and times[0] <= start:
            times.popleft()
        # only the last `threshold` times can matter: memory stays bounded under a flood
        while len(times) > self.threshold:
            times.popleft()
        if len(times) < self.threshold:
            self._spiking.discard(source)
