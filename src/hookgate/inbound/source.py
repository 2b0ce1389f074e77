"""One inbound route's configuration (a *source*): how its webhooks are verified and what else is checked.

A `Source` is validated when it is built (in `__post_init__`, or from a TOML table with `Source.from_mapping`)
so a typo fails at start-up with a message naming the source and the field, not at the first webhook.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hookgate.errors import ConfigError
from hookgate.inbound.net import Networks, parse_networks
from hookgate.policy.url import validate_url
from hookgate.schemes._base import Verifier
from hookgate.schemes.headers import check_header_name
from hookgate.schemes.registry import SCHEME_NAMES, build_verifier

__all__ = ["DEFAULT_MAX_BODY", "Source"]

DEFAULT_MAX_BODY = 1024 * 1024
_MAX_TOLERANCE = 86400  # a day: a wider window is no replay protection
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_JSON_FIELD = re.compile(r"[A-Za-z0-9_.-]+")
_FIELDS = frozenset(
    {
        "scheme",
        "secrets",
        "keys",
        "scheme_options",
        "tolerance_s",
        "event_id",
        "allow_ips",
        "trusted_proxies",
        "rate_limit_per_s",
        "rate_limit_burst",
        "max_body_bytes",
        "require_https",
        "idempotency_ttl_s",
        "path",
        "forward_to",
        "jwks_url",
        "jwks_allow",
        "jwks_insecure",
        "forward_secret",
    }
)


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """Everything needed to accept one provider's webhooks.

    ``secrets`` (several at once while rotating) or ``keys`` (PEM/JWK/JWKS text) feed the scheme's verifier.
    ``event_id`` says where the idempotency id comes from: ``header:Name``, ``json:field`` (dots for nesting)
    or None for the scheme's own message id (Standard Webhooks ``webhook-id``, the JWT ``jti``...).
    """

    name: str
    scheme: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    keys: tuple[str, ...] = field(default=(), repr=False)
    scheme_options: Mapping[str, Any] = field(default_factory=dict)
    tolerance_s: int = 300
    event_id: str | None = None
    allow_ips: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    rate_limit_per_s: float | None = None
    rate_limit_burst: float | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    require_https: bool = True
    idempotency_ttl_s: float = 3 * 24 * 3600.0
    path: str | None = None  # the gateway's route for this source
    forward_to: str | None = None  # the gateway's destination URL
    # scheme "jws": the sender's JWKS URL (fetched, cached, refetched on an unknown kid) instead of keys;
    # jwks_allow lists CIDRs the fetch may reach although not global, jwks_insecure allows http (development)
    jwks_url: str | None = None
    jwks_allow: tuple[str, ...] = ()
    jwks_insecure: bool = False
    # the gateway re-signs what it forwards with this Standard Webhooks secret (default: the gateway's own)
    forward_secret: str | None = field(default=None, repr=False)
    _verifier: Verifier | None = field(init=False, repr=False)
    _allow: Networks = field(init=False, repr=False)
    _trusted: Networks = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"source {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(f"source name {self.name!r} must be 1-64 characters of [A-Za-z0-9_.-]")
        if self.scheme not in SCHEME_NAMES:
            raise ConfigError(f"{where}: scheme must be one of {', '.join(SCHEME_NAMES)}")
        if (
            isinstance(self.tolerance_s, bool)
            or not isinstance(self.tolerance_s, int)
            or not 1 <= self.tolerance_s <= _MAX_TOLERANCE
        ):
            raise ConfigError(
                f"{where}: tolerance_s must be a whole number of seconds from 1 to {_MAX_TOLERANCE}"
            )
        if self.event_id is not None:
            _check_event_id(self.event_id, where)
        _check_limits(self, where)
        if self.path is not None and (not isinstance(self.path, str) or not self.path.startswith("/")):
            raise ConfigError(f"{where}: path must start with '/'")
        object.__setattr__(self, "_allow", parse_networks(self.allow_ips, f"{where}: allow_ips"))
        object.__setattr__(
            self, "_trusted", parse_networks(self.trusted_proxies, f"{where}: trusted_proxies")
        )
        if self.forward_secret is not None:
            _check_forward_secret(self.forward_secret, where)
        if self.jwks_url is not None:
            _check_jwks(self, where)
            if not self.keys:
                object.__setattr__(self, "_verifier", None)
                return
        try:
            verifier = build_verifier(
                self.scheme,
                list(self.secrets),
                [k.encode("utf-8") for k in self.keys],
                tolerance=self.tolerance_s,
                options=dict(self.scheme_options),
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        object.__setattr__(self, "_verifier", verifier)

    @property
    def verifier(self) -> Verifier | None:
        """The static verifier, or None for a JWKS-URL source without static keys (see `JwksFetcher`)."""
        return self._verifier

    @property
    def allow_networks(self) -> Networks:
        return self._allow

    @property
    def trusted_networks(self) -> Networks:
        return self._trusted

    @property
    def burst(self) -> float:
        if self.rate_limit_burst is not None:
            return float(self.rate_limit_burst)
        return max(1.0, float(self.rate_limit_per_s or 1.0))

    @classmethod
    def from_mapping(cls, name: str, table: Mapping[str, Any]) -> Source:
        """A source from a TOML table (``[sources.<name>]``); list values become tuples."""
        unknown = sorted(set(table) - _FIELDS)
        if unknown:
            raise ConfigError(f"source {name!r}: unknown setting(s) {', '.join(unknown)}")
        if "scheme" not in table:
            raise ConfigError(f"source {name!r}: scheme is required")
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key in ("secrets", "keys", "allow_ips", "trusted_proxies", "jwks_allow"):
                values[key] = _strings(value, f"source {name!r}: {key}")
            elif key == "scheme_options":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"source {name!r}: scheme_options must be a table")
                values[key] = dict(value)
            else:
                values[key] = value
        return cls(name=name, **values)


def _check_limits(source: Source, where: str) -> None:
    if source.rate_limit_per_s is not None and not _positive(source.rate_limit_per_s):
        raise ConfigError(f"{where}: rate_limit_per_s must be a positive number")
    if source.rate_limit_burst is not None and not (
        _positive(source.rate_limit_burst) and source.rate_limit_burst >= 1
    ):
        raise ConfigError(f"{where}: rate_limit_burst must be a number >= 1")
    if (
        isinstance(source.max_body_bytes, bool)
        or not isinstance(source.max_body_bytes, int)
        or not (1 <= source.max_body_bytes <= 64 * 1024 * 1024)
    ):
        raise ConfigError(f"{where}: max_body_bytes must be an integer between 1 and 64 MiB")
    for flag in ("require_https", "jwks_insecure"):
        if not isinstance(getattr(source, flag), bool):
            raise ConfigError(f"{where}: {flag} must be true or false")
    if not _positive(source.idempotency_ttl_s):
        raise ConfigError(f"{where}: idempotency_ttl_s must be a positive number of seconds")


def _check_event_id(event_id: object, where: str) -> None:
    kind, _, rest = event_id.partition(":") if isinstance(event_id, str) else ("", "", "")
    if kind == "header":
        try:
            check_header_name(rest)
        except ConfigError as exc:
            raise ConfigError(f"{where}: event_id: {exc}") from None
    elif kind != "json" or not _JSON_FIELD.fullmatch(rest):
        raise ConfigError(f"{where}: event_id must be 'header:<Name>' or 'json:<field>'")


def _check_forward_secret(secret: object, where: str) -> None:
    from hookgate.outbound.security import resolve_secret
    from hookgate.schemes.registry import build_signer

    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where}: forward_secret must be a whsec_ secret or an env:/file: reference")
    try:
        build_signer("standard-webhooks", [resolve_secret(secret, f"{where}: forward_secret")], [])
    except ConfigError as exc:
        raise ConfigError(f"{where}: forward_secret: {exc}") from None


def _check_jwks(source: Source, where: str) -> None:
    if source.scheme != "jws":
        raise ConfigError(f"{where}: jwks_url is only for scheme jws")
    validate_url(
        source.jwks_url,
        allow_insecure=source.jwks_insecure,
        what=f"{where}: jwks_url",
        insecure_option="jwks_insecure",
    )
    parse_networks(source.jwks_allow, f"{where}: jwks_allow")


def _positive(value: object) -> bool:
    return (
        not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    )


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a string or a list of strings")
