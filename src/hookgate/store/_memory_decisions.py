"""The in-memory store's inbound decisions: the recent ones per source (bounded) and per-minute counts.

A mixin of `hookgate.store.memory.MemoryStore`, the reference the SQL stores' queries are tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import count

from hookgate.models import InboundDecision

__all__ = ["InboundDecisions"]


class InboundDecisions:
    def __init__(self) -> None:
        self._decisions: dict[str, list[InboundDecision]] = {}
        self._decision_counts: dict[tuple[str, int, str, str], int] = {}
        self._decision_ids = count(1)

    async def record_inbound_decisions(
        self, decisions: Sequence[InboundDecision], *, keep: int, counts_before: float
    ) -> None:
        for d in decisions:
            kept = self._decisions.setdefault(d.source, [])
            kept.append(replace(d, id=next(self._decision_ids)))
            del kept[:-keep]
            key = (d.source, int(d.at // 60), d.outcome, d.reason)
            self._decision_counts[key] = self._decision_counts.get(key, 0) + 1
        before = int(counts_before // 60)
        for key in [k for k in self._decision_counts if k[1] < before]:
            del self._decision_counts[key]

    async def list_inbound_decisions(
        self, source: str, *, reason: str | None, limit: int
    ) -> list[InboundDecision]:
        found = [d for d in reversed(self._decisions.get(source, [])) if reason is None or d.reason == reason]
        return found[:limit]

    async def inbound_decision_counts(self, source: str, *, since: float) -> list[tuple[str, str, int]]:
        totals: dict[tuple[str, str], int] = {}
        for (s, minute, outcome, reason), n in self._decision_counts.items():
            if s == source and minute >= int(since // 60):
                totals[outcome, reason] = totals.get((outcome, reason), 0) + n
        return sorted(((o, r, n) for (o, r), n in totals.items()), key=lambda t: (-t[2], t[0], t[1]))
