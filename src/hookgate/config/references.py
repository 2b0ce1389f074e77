"""Secret references: a secret value may name where the secret lives (``env:NAME``, ``file:PATH``) instead of
holding it; the reference is stored (sealed) and resolved when the secret is used."""

from __future__ import annotations

import os
from pathlib import Path

from hookgate.errors import ConfigError

__all__ = ["REFERENCE_TTL_S", "is_reference", "resolve_secret"]

# whoever caches what was built from a referenced secret reads it again this often, so rotating the secret
# behind a reference needs no configuration change
REFERENCE_TTL_S = 60.0


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def resolve_secret(value: str, what: str) -> str:
    """The secret itself: ``env:NAME`` reads the environment, ``file:PATH`` a file; else ``value``."""
    if value.startswith("env:"):
        name = value[4:]
        found = os.environ.get(name)
        if not found:
            raise ConfigError(f"{what} refers to environment variable {name!r}, which is not set")
        return found
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{what} refers to file {str(path)!r}, which cannot be read: {exc}") from None
        if not text:
            raise ConfigError(f"{what} refers to file {str(path)!r}, which is empty")
        return text
    return value
