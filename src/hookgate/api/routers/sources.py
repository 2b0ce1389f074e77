"""Inbound sources over the API (admin only): validated like the gateway's TOML tables, stored sealed.

A source's settings hold its verification secrets, so the whole configuration is sealed with the master key
(bound to the source id); reads return the public settings only, never a secret or a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from fastapi import Response

from hookgate.api.auth import Auth, require_admin
from hookgate.api.deps import HG, resource_router
from hookgate.api.schemas import SourceIn, SourceOut
from hookgate.client import Hookgate, source_aad
from hookgate.errors import ConfigError, DuplicateError
from hookgate.inbound.source import Source
from hookgate.models import InboundSourceRecord, new_id
from hookgate.policy.url import validate_url

__all__ = ["load_sources", "router"]

router = resource_router("/api/v1/sources", "sources")


def _seal(hg: Hookgate, source_id: str, table: dict[str, Any]) -> bytes:
    if hg.box is None:
        raise ConfigError("no master key configured: sources cannot be stored")
    return hg.box.seal(json.dumps(table, separators=(",", ":")).encode(), source_aad(source_id))


def _open(hg: Hookgate, record: InboundSourceRecord) -> dict[str, Any]:
    if hg.box is None:
        raise ConfigError("no master key configured: sources cannot be read")
    table: dict[str, Any] = json.loads(hg.box.open(record.config_sealed, source_aad(record.id)))
    return table


def _source(record: InboundSourceRecord, table: dict[str, Any]) -> Source:
    fields = {k: v for k, v in table.items() if k != "name"}
    return Source.from_mapping(record.name, fields)


def _public_tls(tls: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (tls or {}).items() if k != "client_key"}


def _out(record: InboundSourceRecord, source: Source) -> SourceOut:
    return SourceOut(
        id=record.id,
        name=record.name,
        scheme=source.scheme,
        path=source.path,
        forward_to=source.forward_to,
        forward_tls=_public_tls(source.forward_tls),
        event_id=source.event_id,
        tolerance_s=source.tolerance_s,
        allow_ips=list(source.allow_ips),
        trusted_proxies=list(source.trusted_proxies),
        rate_limit_per_s=source.rate_limit_per_s,
        max_body_bytes=source.max_body_bytes,
        require_https=source.require_https,
        jwks_url=source.jwks_url,
        jwks_tls=_public_tls(source.jwks_tls),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


async def load_sources(hg: Hookgate) -> list[tuple[InboundSourceRecord, Source]]:
    """Every stored source, opened and validated (the inbound router builds its routes from these)."""
    out = []
    for record in await hg.store.list_sources():
        out.append((record, _source(record, _open(hg, record))))
    return out


async def _save(hg: Hookgate, source_id: str, body: SourceIn, created_at: float | None) -> SourceOut:
    table = body.model_dump(exclude_none=True)
    record = InboundSourceRecord(source_id, body.name, b"", created_at or time.time(), time.time())
    source = _source(record, table)  # validates everything, secrets included, or raises ConfigError
    validate_url(body.forward_to, allow_insecure=False, what="forward_to")
    record.config_sealed = _seal(hg, source_id, table)
    try:
        await hg.store.put_source(record)
    except DuplicateError:
        raise DuplicateError(f"a source named {body.name} exists") from None
    return _out(record, source)


@router.post("", status_code=201)
async def create_source(body: SourceIn, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    return await _save(hg, new_id("src"), body, None)


@router.get("")
async def list_sources(who: Auth, hg: HG) -> list[SourceOut]:
    require_admin(who)
    return [_out(record, source) for record, source in await load_sources(hg)]


@router.get("/{source_id}")
async def get_source(source_id: str, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    record = await hg.store.get_source(source_id)
    return _out(record, _source(record, _open(hg, record)))


@router.put("/{source_id}")
async def replace_source(source_id: str, body: SourceIn, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    existing = await hg.store.get_source(source_id)
    return await _save(hg, source_id, body, existing.created_at)


@router.delete("/{source_id}", status_code=204)
async def delete_source(source_id: str, who: Auth, hg: HG) -> Response:
    require_admin(who)
    await hg.store.delete_source(source_id)
    return Response(status_code=204)
