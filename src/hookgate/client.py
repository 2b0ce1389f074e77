"""The Python API of the delivery engine: applications, endpoints, publish, resend, recover, workers.

`Hookgate` is the object an application holds (``async with await Hookgate.open() as hg``); the module-level
`publish` / `publish_sync` use one default instance built from the environment (see `hookgate.config`), the
way logging or httpx's top-level functions work. The operations themselves are the services
in `hookgate.services` (one module per kind of record), which `Hookgate` composes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from hookgate.config import Settings, load_settings, master_key_box
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.inbound.managed import ManagedSource, source_aad
from hookgate.models import Application
from hookgate.outbound.opevents import OpEvents
from hookgate.policy.ssrf import AddressPolicy
from hookgate.policy.url import validate_url
from hookgate.services.access import AccessServices
from hookgate.services.applications import ApplicationServices
from hookgate.services.console import ConsoleServices
from hookgate.services.endpoints import EndpointServices, NewEndpoint
from hookgate.services.expunge import ExpungeServices
from hookgate.services.messages import MAX_PAYLOAD_BYTES, BulkResend, MessageServices, encode_payload
from hookgate.services.sources import SourceServices
from hookgate.services.stats import StatsServices
from hookgate.services.tasks import TaskServices
from hookgate.store import open_store
from hookgate.store.base import PublishResult, Store

if TYPE_CHECKING:
    from hookgate.outbound.worker import Worker
    from hookgate.sync import SyncHookgate

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "BulkResend",
    "Hookgate",
    "ManagedSource",
    "NewEndpoint",
    "close_default",
    "close_default_sync",
    "encode_payload",
    "publish",
    "publish_sync",
    "source_aad",
    "validate_url",
]

T = TypeVar("T")


class Hookgate(
    ApplicationServices,
    EndpointServices,
    MessageServices,
    ExpungeServices,
    SourceServices,
    AccessServices,
    ConsoleServices,
    StatsServices,
    TaskServices,
):
    """One application's handle on the delivery engine: every service (`hookgate.services`) in one object."""

    def __init__(
        self,
        store: Store,
        box: SecretBox | None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.box = box
        self.settings = settings or Settings()
        self._clock = clock
        self.opevents = OpEvents(store, clock=clock)
        self._init_refusal_watch()

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        box: SecretBox | None = None,
        migrate: bool = True,
    ) -> Hookgate:
        """Open the store at ``url`` (default: the settings' database, SQLite in the data directory).

        The master key comes from ``box``, else from the settings (``HOOKGATE_MASTER_KEY`` or the key file,
        created on first use for the embedded default so a fresh install stores no plaintext secret).
        """
        settings = settings or load_settings()
        if box is None:
            # only the embedded default (SQLite in the data directory) creates its own key on first use: a
            # worker pointed at a shared database must use the key the secrets were sealed with, not a new one
            embedded = url is None and settings.database_url is None
            box = master_key_box(settings, create=settings.master_key is None and embedded)
        store = await open_store(url or settings.store_url, migrate=migrate)
        return cls(store, box, settings=settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.opevents.close()  # what the workers queued is written before the store goes
        await self.store.close()

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ConfigError("no master key configured: endpoint secrets cannot be stored or read")
        return self.box

    # -- applications and endpoints -----------------------------------------------------------------

    # -- messages -----------------------------------------------------------------------------------

    # -- management API tokens ----------------------------------------------------------------------

    # -- inbound sources managed at run time ----------------------------------------------------------

    # -- keys -------------------------------------------------------------------------------------

    # -- workers ------------------------------------------------------------------------------------

    def worker(self, **overrides: Any) -> Worker:
        """A `Worker` on this store, configured from the settings; keyword arguments override."""
        from hookgate.outbound.worker import Worker  # aiohttp stays out of publish-only apps

        s = self.settings
        options: dict[str, Any] = {
            "box": self.box,
            "address_policy": AddressPolicy(s.ssrf_allowlist),
            "concurrency": s.worker_concurrency,
            "claim_batch": s.claim_batch,
            "lease_s": s.lease_seconds,
            "disable_after_s": s.disable_after_seconds,
            "opevents": self.opevents,
            "failing_after": s.opevents_failing_after,
            "clock": self._clock,
        }
        options.update(overrides)
        return Worker(self.store, **options)


# -- the default instances (async, and the sync twin's) ----------------------------------------------


_default_async: dict[asyncio.AbstractEventLoop, Hookgate] = {}
_default_sync: list[SyncHookgate] = []
_default_lock = threading.Lock()


async def _default() -> Hookgate:
    # One instance per event loop: a store's connections belong to the loop that opened them.
    loop = asyncio.get_running_loop()
    hg = _default_async.get(loop)
    if hg is None:
        hg = await Hookgate.open()
        _default_async[loop] = hg
    return hg


async def publish(
    app: str | Application, event_type: str, payload: object, *, idempotency_key: str | None = None
) -> PublishResult:
    """Publish through the default `Hookgate` (configured from ``HOOKGATE_*`` settings)."""
    hg = await _default()
    return await hg.publish(app, event_type, payload, idempotency_key=idempotency_key)


def publish_sync(
    app: str | Application, event_type: str, payload: object, *, idempotency_key: str | None = None
) -> PublishResult:
    """The synchronous twin of `publish`, for code without an event loop."""
    from hookgate.sync import SyncHookgate

    with _default_lock:
        if not _default_sync:
            _default_sync.append(SyncHookgate())
        client = _default_sync[0]
    return client.publish(app, event_type, payload, idempotency_key=idempotency_key)


async def close_default() -> None:
    """Close the default instances (tests, or an application shutting down cleanly)."""
    loop = asyncio.get_running_loop()
    hg = _default_async.pop(loop, None)
    if hg is not None:
        await hg.close()


def close_default_sync() -> None:
    with _default_lock:
        while _default_sync:
            _default_sync.pop().close()
