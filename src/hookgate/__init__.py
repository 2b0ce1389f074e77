"""hookgate: webhooks you can trust in both directions.

The top-level API is small on purpose; framework integrations are imported by path
(``hookgate.inbound.asgi``), so ``import hookgate`` loads no web framework or database driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hookgate.errors import ConfigError, HookgateError, VerificationError
from hookgate.keys import Secret

if TYPE_CHECKING:
    from hookgate.client import Hookgate, publish, publish_sync
    from hookgate.store.base import PublishResult
    from hookgate.sync import SyncHookgate

__all__ = [
    "ConfigError",
    "Hookgate",
    "HookgateError",
    "PublishResult",
    "Secret",
    "SyncHookgate",
    "VerificationError",
    "__version__",
    "publish",
    "publish_sync",
]

# where each lazily loaded name lives: the delivery API pulls in the store and HTTP client layers
_LAZY = {
    "Hookgate": "hookgate.client",
    "PublishResult": "hookgate.store.base",
    "SyncHookgate": "hookgate.sync",
    "publish": "hookgate.client",
    "publish_sync": "hookgate.client",
}


def __getattr__(name: str) -> Any:
    # loaded on first use only, so ``import hookgate`` stays light
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hookgate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__version__ = "0.1.0.dev0"
