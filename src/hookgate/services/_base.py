"""What every service of the `hookgate.client.Hookgate` facade stands on: the store, the master key box, the
settings and the injected clock; the one base every service class extends."""

from __future__ import annotations

from collections.abc import Callable

from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.store.base import Store

__all__ = ["ServiceBase"]


class ServiceBase:
    """The state the facade's services share; `hookgate.client.Hookgate` sets it in ``__init__``."""

    store: Store
    box: SecretBox | None
    settings: Settings
    _clock: Callable[[], float]

    def now(self) -> float:
        """The services' clock (injected; tests pass a fixed one)."""
        return self._clock()

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ConfigError("no master key configured: endpoint secrets cannot be stored or read")
        return self.box
