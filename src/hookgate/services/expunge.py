"""Expunging messages' payloads on demand (GDPR erasure): one message, or an application's messages older
than a time. The record of delivery stays; see `hookgate.store.expunge_base` for what goes."""

from __future__ import annotations

import math

from hookgate.errors import ConfigError
from hookgate.models import Message
from hookgate.services._base import ServiceBase

__all__ = ["EXPUNGE_BATCH", "ExpungeServices"]

# messages per transaction of a bulk expunge: bounded, so a large history never holds the write lock long
EXPUNGE_BATCH = 500


class ExpungeServices(ServiceBase):
    async def expunge_message(self, message_id: str) -> Message:
        """Erase one message's payload (and its attempts' response excerpts); its deliveries that could
        still send it go dead. The message as it now is (empty payload, ``expunged_at`` set; expunging it
        again keeps the first time). Raises `NotFoundError`."""
        return await self.store.expunge_message(message_id, now=self._clock())

    async def expunge_messages(self, app_id: str, *, before: float) -> int:
        """Expunge every message of the application created before ``before`` (Unix seconds) and not
        expunged yet; how many. Raises `NotFoundError` for an unknown application."""
        if isinstance(before, bool) or not (isinstance(before, (int, float)) and math.isfinite(before)):
            raise ConfigError(f"before must be a finite number of Unix seconds, not {before!r}")
        await self.store.get_application(app_id)
        return await self.store.expunge_messages(
            app_id, before=float(before), now=self._clock(), limit=EXPUNGE_BATCH
        )
