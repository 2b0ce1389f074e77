"""Inbound sources managed at run time (through the API or the library), stored sealed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hookgate.config.rules import validate_text
from hookgate.errors import DuplicateError
from hookgate.inbound.managed import ManagedSource, open_source, seal_source, validate_source
from hookgate.models import InboundDecision, InboundSourceRecord, new_id
from hookgate.policy.spike import RefusalWatch
from hookgate.services._base import ServiceBase

__all__ = ["DECISIONS_KEPT", "SourceServices"]

DECISIONS_KEPT = 1000  # recent decisions kept per source; the per-minute counts by reason are kept a day
_COUNTS_KEPT_S = 24 * 3600.0


class SourceServices(ServiceBase):
    """Create, replace, read and delete inbound sources."""

    _refusals: RefusalWatch

    def _init_refusal_watch(self) -> None:
        # in memory, this process's decisions: each serve process watches the requests it answered
        s = self.settings
        self._refusals = RefusalWatch(s.opevents_refusal_threshold, s.opevents_refusal_window_seconds)

    async def create_source(self, name: str, settings: Mapping[str, Any]) -> ManagedSource:
        """Validate and store an inbound source (a gateway source table), sealed; names are unique.

        ``settings`` has a gateway source's keys (scheme, secrets, path, forward_to, forward_secret ...);
        ``hookgate serve`` routes its ``path`` within seconds. `DuplicateError` if the name is taken.
        """
        return await self._save_source(new_id("src"), name, settings, created_at=None)

    async def replace_source(self, source_id: str, name: str, settings: Mapping[str, Any]) -> ManagedSource:
        """Replace a stored source's name and settings as a whole (validated like `create_source`)."""
        existing = await self.store.get_source(source_id)
        return await self._save_source(source_id, name, settings, created_at=existing.created_at)

    async def _save_source(
        self, source_id: str, name: str, settings: Mapping[str, Any], *, created_at: float | None
    ) -> ManagedSource:
        name = validate_text(name, "source name", max_length=64)
        table = {"name": name, **{k: v for k, v in settings.items() if k != "name"}}
        source = validate_source(name, table)  # secrets included, or ConfigError naming the field
        now = self._clock()
        sealed = seal_source(self.box, source_id, table)
        record = InboundSourceRecord(source_id, name, sealed, now if created_at is None else created_at, now)
        try:
            await self.store.put_source(record)
        except DuplicateError:
            raise DuplicateError(f"a source named {name} exists") from None
        return ManagedSource(record, source)

    async def get_source(self, source_id: str) -> ManagedSource:
        return open_source(self.box, await self.store.get_source(source_id))

    async def list_sources(self) -> list[ManagedSource]:
        """Every stored source, opened and validated, by name."""
        return [open_source(self.box, record) for record in await self.store.list_sources()]

    async def list_source_records(self) -> list[InboundSourceRecord]:
        """The stored sources' records, sealed (cheap: to see whether any changed since a rebuild)."""
        return await self.store.list_sources()

    async def delete_source(self, source_id: str) -> None:
        await self.store.delete_source(source_id)

    async def record_source_decisions(self, decisions: Sequence[InboundDecision]) -> None:
        """Keep a batch of inbound decisions (the newest `DECISIONS_KEPT` per source) and count them per
        minute by outcome and reason (the serve runtime's `hookgate.inbound.decision_log.DecisionLog`)."""
        cutoff = self._clock() - _COUNTS_KEPT_S
        await self.store.record_inbound_decisions(decisions, keep=DECISIONS_KEPT, counts_before=cutoff)
        # watched only once written: a batch the store refused comes back, and would be counted twice
        for decision in decisions:
            if decision.outcome != "rejected":
                continue
            spike = self._refusals.refused(decision.source, decision.at)
            if spike is not None:
                await self.opevents.publish(
                    self.opevents.event(
                        "source.refusals.spiking",
                        {
                            "source": spike.source,
                            "refusals": spike.refusals,
                            "threshold": self._refusals.threshold,
                            "window_s": self._refusals.window_s,
                        },
                    )
                )

    async def source_decisions(
        self, source_id: str, *, reason: str | None = None, limit: int = 50
    ) -> list[InboundDecision]:
        """A stored source's recent decisions, newest first, optionally only those for ``reason``."""
        record = await self.store.get_source(source_id)
        limit = max(1, min(limit, DECISIONS_KEPT))
        return await self.store.list_inbound_decisions(record.name, reason=reason, limit=limit)

    async def source_decision_counts(
        self, source_id: str, *, since_s: float = 3600.0
    ) -> list[tuple[str, str, int]]:
        """(outcome, reason, count) of a stored source's decisions over the last ``since_s`` seconds (whole
        minutes, at most a day), most frequent first."""
        record = await self.store.get_source(source_id)
        since = self._clock() - min(since_s, _COUNTS_KEPT_S)
        return await self.store.inbound_decision_counts(record.name, since=since)
