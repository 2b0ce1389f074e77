"""The in-memory store's expunge: a message's payload and its attempts' response excerpts erased, its
deliveries that could still send it dead (see `hookgate.store.expunge_base`)."""

from __future__ import annotations

from dataclasses import replace

from hookgate.models import Attempt, Delivery, DeliveryStatus, Message
from hookgate.store._memory_pages import copied, existing
from hookgate.store.expunge_base import EXPUNGED_REASON, Position

__all__ = ["MemoryExpunge"]

_SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.IN_FLIGHT)


class MemoryExpunge:
    """`hookgate.store.expunge_base.ExpungeStore` for `hookgate.store.memory.MemoryStore`."""

    _messages: dict[str, Message]
    _deliveries: dict[str, Delivery]
    _attempts: dict[str, list[Attempt]]

    def _expunge(self, message: Message, now: float) -> None:
        message.payload = b""
        if message.expunged_at is None:
            message.expunged_at = now
        for d in self._deliveries.values():
            if d.message_id != message.id:
                continue
            if d.status in _SENDABLE:
                d.status, d.updated_at, d.dead_reason = DeliveryStatus.DEAD, now, EXPUNGED_REASON
                d.lease_owner = d.lease_expires_at = None
            attempts = self._attempts.get(d.id, [])
            attempts[:] = [replace(a, response_excerpt="") for a in attempts]

    async def expunge_message(self, message_id: str, *, now: float) -> Message:
        message = existing(self._messages, message_id, "message")
        self._expunge(message, now)
        return copied(message)

    async def expunge_batch(
        self, app_id: str, *, before: float, after: Position, now: float, limit: int
    ) -> tuple[int, Position | None]:
        chosen = sorted(
            (
                m
                for m in self._messages.values()
                if m.app_id == app_id
                and m.created_at < before
                and (m.created_at, m.id) > after
                and m.expunged_at is None
            ),
            key=lambda m: (m.created_at, m.id),
        )[:limit]
        for m in chosen:
            self._expunge(m, now)
        if len(chosen) < limit:
            return len(chosen), None
        return len(chosen), (chosen[-1].created_at, chosen[-1].id)
