"""hookgate: webhooks you can trust in both directions.

The top-level API is small on purpose; framework integrations are imported by path
(``hookgate.inbound.asgi``), so ``import hookgate`` loads no web framework or database driver.
"""

from __future__ import annotations

from hookgate.errors import ConfigError, HookgateError, VerificationError
from hookgate.keys import Secret

__all__ = [
    "ConfigError",
    "HookgateError",
    "Secret",
    "VerificationError",
    "__version__",
]

__version__ = "0.1.0.dev0"
