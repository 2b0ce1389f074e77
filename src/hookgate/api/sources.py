"""Inbound sources over the API (admin only): validated like the gateway's TOML tables, stored sealed.

A source's settings hold its verification secrets, so the whole configuration is sealed with the master key
(bound to the source id); reads return the public settings only, never a secret or a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field

from hookgate.api.auth import ApiError, Auth, require_admin
from hookgate.api.strict import StrictBody
from hookgate.client import Hookgate, source_aad
from hookgate.errors import ConfigError, StoreError
from hookgate.inbound.source import Source
from hookgate.models import InboundSourceRecord, new_id
from hookgate.policy.url import validate_url

__all__ = ["add_routes", "load_sources"]

_SECRET_FIELDS = ("secrets", "keys", "forward_secret")
# /inbound/ then segments of the allowed characters, none of them empty, "." or ".." (the Source checks it
# again with a precise message; the pattern puts the rule into the OpenAPI schema)
_SEGMENT = r"(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.[A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.\.[A-Za-z0-9_.\-]+)"
_PATH = rf"^/inbound(?:/{_SEGMENT})+/?$"


class SourceIn(StrictBody):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    scheme: str
    secrets: list[str] = Field(default_factory=list, max_length=8)
    keys: list[str] = Field(default_factory=list, max_length=8)
    scheme_options: dict[str, Any] = Field(default_factory=dict)
    tolerance_s: int = Field(default=300, ge=1, le=86400)
    event_id: str | None = None
    allow_ips: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    rate_limit_burst: float | None = Field(default=None, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    require_https: bool = True
    idempotency_ttl_s: float = Field(default=3 * 24 * 3600.0, gt=0)
    path: str = Field(pattern=_PATH, max_length=1024, description="served by hookgate serve")
    forward_to: str = Field(min_length=1, max_length=2048)
    forward_secret: str = Field(min_length=1, max_length=4096)
    # TLS for forward_to, in an endpoint's tls shape: ca_bundle, client_cert, client_key, min_version
    forward_tls: dict[str, Any] | None = None
    jwks_url: str | None = None
    jwks_allow: list[str] = Field(default_factory=list)
    jwks_insecure: bool = False
    # TLS for the jwks_url fetch, in an endpoint's tls shape
    jwks_tls: dict[str, Any] | None = None
    sender_keys: list[str] = Field(default_factory=list, max_length=8)


class SourceOut(BaseModel):
    id: str
    name: str
    scheme: str
    path: str | None
    forward_to: str | None
    forward_tls: dict[str, Any] = Field(description="the public forward_tls settings; the client key never")
    event_id: str | None
    tolerance_s: int
    allow_ips: list[str]
    trusted_proxies: list[str]
    rate_limit_per_s: float | None
    max_body_bytes: int
    require_https: bool
    jwks_url: str | None
    jwks_tls: dict[str, Any] = Field(description="the public jwks_tls settings; the client key never")
    created_at: float
    updated_at: float


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


def add_routes(app: FastAPI) -> None:
    """Add the /api/v1/sources routes to ``app`` (directly: its route list stays flat)."""
    prefix = "/api/v1/sources"

    def hookgate_of(request: Request) -> Hookgate:
        hg: Hookgate = request.app.state.hookgate
        return hg

    admin = require_admin

    async def save(hg: Hookgate, source_id: str, body: SourceIn, created_at: float | None) -> SourceOut:
        table = body.model_dump(exclude_none=True)
        record = InboundSourceRecord(source_id, body.name, b"", created_at or time.time(), time.time())
        source = _source(record, table)  # validates everything, secrets included, or raises ConfigError
        validate_url(body.forward_to, allow_insecure=False, what="forward_to")
        record.config_sealed = _seal(hg, source_id, table)
        try:
            await hg.store.put_source(record)
        except StoreError as exc:
            if "name" in str(exc) or "exists" in str(exc) or "unique" in str(exc).lower():
                raise ApiError(409, "conflict", f"a source named {body.name} exists") from None
            raise
        return _out(record, source)

    @app.post(prefix, status_code=201, tags=["sources"])
    async def create_source(body: SourceIn, who: Auth, request: Request) -> SourceOut:
        admin(who)
        return await save(hookgate_of(request), new_id("src"), body, None)

    @app.get(prefix, tags=["sources"])
    async def list_sources(who: Auth, request: Request) -> list[SourceOut]:
        admin(who)
        return [_out(record, source) for record, source in await load_sources(hookgate_of(request))]

    @app.get(f"{prefix}/{{source_id}}", tags=["sources"])
    async def get_source(source_id: str, who: Auth, request: Request) -> SourceOut:
        admin(who)
        hg = hookgate_of(request)
        record = await hg.store.get_source(source_id)
        return _out(record, _source(record, _open(hg, record)))

    @app.put(f"{prefix}/{{source_id}}", tags=["sources"])
    async def replace_source(source_id: str, body: SourceIn, who: Auth, request: Request) -> SourceOut:
        admin(who)
        hg = hookgate_of(request)
        existing = await hg.store.get_source(source_id)
        return await save(hg, source_id, body, existing.created_at)

    @app.delete(f"{prefix}/{{source_id}}", status_code=204, tags=["sources"])
    async def delete_source(source_id: str, who: Auth, request: Request) -> Response:
        admin(who)
        await hookgate_of(request).store.delete_source(source_id)
        return Response(status_code=204)
