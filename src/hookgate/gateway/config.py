"""The gateway's configuration (``gateway.toml``): its listener, TLS, forwarding defaults and sources.

Parsed and checked in full when loaded, so a typo fails at start-up with a message naming the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hookgate.config.references import resolve_secret
from hookgate.config.rules import validate_event_type
from hookgate.errors import ConfigError
from hookgate.inbound.source import Source
from hookgate.policy.url import validate_url
from hookgate.schemes.registry import build_signer
from hookgate.tls import TLS_VERSIONS

__all__ = ["GatewayConfig", "forward_event_type"]

_GATEWAY_FIELDS = frozenset(
    {
        "host",
        "port",
        "tls_cert",
        "tls_key",
        "client_ca",
        "min_tls_version",
        "http_port",
        "http_mode",
        "forward_secret",
        "database_url",
        "ssrf_allowlist",
        "allow_insecure_forward",
        "workers",
    }
)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``[gateway]`` table and the ``[sources.*]`` tables of the gateway's TOML file."""

    sources: tuple[Source, ...]
    forward_secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    min_tls_version: str = "1.2"
    http_port: int | None = None
    http_mode: str = "reject"
    database_url: str | None = None
    ssrf_allowlist: tuple[str, ...] = ()
    allow_insecure_forward: bool = False
    workers: bool = True

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.sources:
            raise ConfigError("gateway: at least one [sources.<name>] table is required")
        paths = [s.path for s in self.sources]
        if any(p is None for p in paths) or len(set(paths)) != len(paths):
            raise ConfigError('gateway: every source needs its own path (e.g. path = "/in/stripe")')
        for source in self.sources:
            _check_source(source, self.allow_insecure_forward)
        for name, port in (("port", self.port), ("http_port", self.http_port)):
            if port is not None and (
                isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536
            ):
                raise ConfigError(f"gateway: {name} must be 0-65535")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("gateway: tls_cert and tls_key must be given together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ConfigError("gateway: client_ca (mutual TLS) needs tls_cert and tls_key")
        if self.min_tls_version not in TLS_VERSIONS:
            raise ConfigError(f"gateway: min_tls_version must be one of {', '.join(TLS_VERSIONS)}")
        if self.http_mode not in ("reject", "redirect"):
            raise ConfigError("gateway: http_mode must be 'reject' or 'redirect'")
        if self.http_mode == "redirect" and self.tls_cert is None:
            raise ConfigError("gateway: http_mode = 'redirect' needs an HTTPS listener (tls_cert, tls_key)")
        secret = resolve_secret(self.forward_secret, "gateway.forward_secret")
        try:
            build_signer("standard-webhooks", [secret], [])
        except ConfigError as exc:
            raise ConfigError(f"gateway: forward_secret: {exc}") from None

    @classmethod
    def load(cls, path: Path) -> GatewayConfig:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read gateway config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"gateway config {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(document, base=path.parent)

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any], *, base: Path = Path()) -> GatewayConfig:
        unknown_top = sorted(set(document) - {"gateway", "sources"})
        if unknown_top:
            raise ConfigError(f"gateway config: unknown table(s) {', '.join(unknown_top)}")
        table = dict(document.get("gateway") or {})
        unknown = sorted(set(table) - _GATEWAY_FIELDS)
        if unknown:
            raise ConfigError(f"gateway config: unknown setting(s) {', '.join(unknown)} in [gateway]")
        if "forward_secret" not in table:
            raise ConfigError("gateway config: [gateway] forward_secret is required (whsec_..., env:NAME)")
        for key in ("tls_cert", "tls_key", "client_ca"):
            if key in table:
                table[key] = base / str(table[key])
        if "ssrf_allowlist" in table:
            allow = table["ssrf_allowlist"]
            if not isinstance(allow, list) or not all(isinstance(x, str) for x in allow):
                raise ConfigError("gateway config: ssrf_allowlist must be a list of CIDR strings")
            table["ssrf_allowlist"] = tuple(allow)
        sources = document.get("sources") or {}
        if not isinstance(sources, Mapping):
            raise ConfigError("gateway config: [sources] must be tables ([sources.<name>])")
        built = []
        for name, source_table in sources.items():
            if not isinstance(source_table, Mapping):
                raise ConfigError(f"gateway config: [sources.{name}] must be a table")
            built.append(Source.from_mapping(name, source_table))
        try:
            return cls(sources=tuple(built), **table)
        except TypeError as exc:
            raise ConfigError(f"gateway config: {exc}") from None


def _check_types(config: GatewayConfig) -> None:
    # TOML has real types: a string where a switch belongs ("no") is truthy and must not turn it on
    for name in ("allow_insecure_forward", "workers"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"gateway: {name} must be true or false")
    for name in ("host", "min_tls_version", "http_mode"):
        if not isinstance(getattr(config, name), str):
            raise ConfigError(f"gateway: {name} must be a string")
    if config.database_url is not None and not isinstance(config.database_url, str):
        raise ConfigError("gateway: database_url must be a string")


def _check_source(source: Source, allow_insecure_forward: bool) -> None:
    try:
        validate_event_type(forward_event_type(source))
    except ConfigError:
        raise ConfigError(
            f"gateway: source name {source.name!r} must be dot-separated words (it names an event type)"
        ) from None
    if source.forward_to is None:
        raise ConfigError(f"gateway: source {source.name!r} needs forward_to (the destination URL)")
    validate_url(
        source.forward_to,
        allow_insecure=allow_insecure_forward,
        what=f"gateway: source {source.name!r}: forward_to",
        insecure_option="allow_insecure_forward",
    )


def forward_event_type(source: Source) -> str:
    """The event type a source's webhooks are published under (its forwarding endpoint subscribes to it)."""
    return f"gateway.{source.name}"
