"""What every service of the `hookgate.client.Hookgate` facade stands on: the store, the master key box, the
settings, the operational events emitter and the injected clock; the one base every service class extends."""

from __future__ import annotations

from collections.abc import Callable

from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, DuplicateError, NotFoundError
from hookgate.models import Application, Endpoint
from hookgate.outbound.opevents import OPS_APP_ID, OpEvents
from hookgate.store.base import Store

__all__ = ["ServiceBase"]


class ServiceBase:
    """The state the facade's services share; `hookgate.client.Hookgate` sets it in ``__init__``."""

    store: Store
    box: SecretBox | None
    settings: Settings
    opevents: OpEvents
    _clock: Callable[[], float]

    def now(self) -> float:
        """The services' clock (injected; tests pass a fixed one)."""
        return self._clock()

    async def _live_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint, `NotFoundError` when there is none or it was deleted (the store keeps a deleted
        endpoint's tombstone for history; to the services' callers it no longer exists)."""
        endpoint = await self.store.get_endpoint(endpoint_id)
        if endpoint.deleted_at is not None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        return endpoint

    async def _ops_application(self) -> Application:
        """The operator application, created on first use (its endpoints receive the operational events)."""
        try:
            return await self.store.get_application(OPS_APP_ID)
        except NotFoundError:
            pass
        try:
            return await self.store.create_application(
                Application(OPS_APP_ID, "hookgate operational events", self._clock())
            )
        except DuplicateError:  # another process created it in between
            return await self.store.get_application(OPS_APP_ID)

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ConfigError("no master key configured: endpoint secrets cannot be stored or read")
        return self.box
