"""The part of the store interface that expunges messages' payloads (`hookgate.store.base.Store` extends it).

Expunging is erasure on demand (GDPR): the record of delivery stays (the message with its id, application,
event type and time, its deliveries and attempts), the content goes: the payload becomes an empty body and
``expunged_at`` is set, and the attempts' response excerpts are blanked (a receiver's answer may echo the
payload; the recorded request headers stay, they were redacted when recorded). A delivery that could still
send the message (pending, failed or in flight) goes dead with `EXPUNGED_REASON` in the same transaction, so
no worker ever sends the empty body in its place.
"""

from __future__ import annotations

import abc

from hookgate.models import Message

__all__ = ["EXPUNGED_REASON", "ExpungeStore", "Position"]

EXPUNGED_REASON = "message expunged"

# the bulk expunge's cursor: (created_at, id) of the last message of the batch before
Position = tuple[float, str]


class ExpungeStore(abc.ABC):
    @abc.abstractmethod
    async def expunge_message(self, message_id: str, *, now: float) -> Message:
        """Expunge one message (again: keeps its first ``expunged_at``); the message as it now is. Raises
        `NotFoundError`."""

    @abc.abstractmethod
    async def expunge_batch(
        self, app_id: str, *, before: float, after: Position, now: float, limit: int
    ) -> tuple[int, Position | None]:
        """Expunge, in one transaction, at most ``limit`` of the application's messages created before
        ``before`` and not expunged yet, the first ones after ``after`` in creation order; how many, and the
        position of the last (None when the selection is exhausted)."""

    async def expunge_messages(self, app_id: str, *, before: float, now: float, limit: int = 500) -> int:
        """Expunge the application's messages created before ``before``, in batches of ``limit`` (each its
        own transaction, so a large history never holds the write lock long); how many were expunged."""
        total, after = 0, (float("-inf"), "")
        while True:
            count, last = await self.expunge_batch(app_id, before=before, after=after, now=now, limit=limit)
            total += count
            if last is None:
                return total
            after = last
