"""Inbound sources managed at run time (API or library): validated like the gateway's TOML tables, sealed.

A source's settings hold its verification secrets, so the whole table is sealed with the master key (bound to
the source id); `hookgate.client.Hookgate` stores and reads them, and the inbound router serves them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.inbound.source import Source
from hookgate.models import InboundSourceRecord
from hookgate.policy.url import validate_url

__all__ = ["ManagedSource", "open_source", "seal_source", "source_aad", "validate_source"]


@dataclass(frozen=True, slots=True)
class ManagedSource:
    """A stored source: its record (id, name, times, the sealed table) and the validated `Source`."""

    record: InboundSourceRecord
    source: Source


def source_aad(source_id: str) -> bytes:
    """The associated data an inbound source's sealed configuration is bound to."""
    return f"hookgate:source:{source_id}".encode()


def validate_source(name: str, table: Mapping[str, Any]) -> Source:
    """The `Source` a table describes (its secrets included), or `ConfigError` naming the field.

    A managed source must forward over TLS: ``forward_to`` is an https URL."""
    source = Source.from_mapping(name, _fields(table))
    forward_to = table.get("forward_to")
    if not isinstance(forward_to, str):
        raise ConfigError(f"source {name}: forward_to is required")
    validate_url(forward_to, allow_insecure=False, what="forward_to")
    return source


def _fields(table: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k != "name"}  # the name is the record's


def seal_source(box: SecretBox | None, source_id: str, table: Mapping[str, Any]) -> bytes:
    if box is None:
        raise ConfigError("no master key configured: sources cannot be stored")
    return box.seal(json.dumps(dict(table), separators=(",", ":")).encode(), source_aad(source_id))


def open_source(box: SecretBox | None, record: InboundSourceRecord) -> ManagedSource:
    """The stored source, opened and validated again (its table may hold references resolved now)."""
    if box is None:
        raise ConfigError("no master key configured: sources cannot be read")
    table: dict[str, Any] = json.loads(box.open(record.config_sealed, source_aad(record.id)))
    return ManagedSource(record, Source.from_mapping(record.name, _fields(table)))
