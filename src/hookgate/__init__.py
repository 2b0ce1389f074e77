"""hookgate: webhooks you can trust in both directions.

The top-level API is small on purpose; framework integrations are imported by path
(``hookgate.inbound.asgi``), so ``import hookgate`` loads no web framework or database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookgate.errors import ConfigError, HookgateError, VerificationError
from hookgate.keys import Secret

if TYPE_CHECKING:
    from hookgate.client import Hookgate, publish, publish_sync
    from hookgate.sync import SyncHookgate

__all__ = [
    "ConfigError",
    "Hookgate",
    "HookgateError",
    "Secret",
    "SyncHookgate",
    "VerificationError",
    "__version__",
    "publish",
    "publish_sync",
]

_LAZY = frozenset({"Hookgate", "SyncHookgate", "publish", "publish_sync"})


def __getattr__(name: str) -> Any:
    # The delivery API pulls in the store and HTTP client layers; load them on first use only.
    if name == "SyncHookgate":
        from hookgate.sync import SyncHookgate

        return SyncHookgate
    if name in _LAZY:
        from hookgate import client

        return getattr(client, name)
    raise AttributeError(f"module 'hookgate' has no attribute {name!r}")


__version__ = "0.1.0.dev0"
