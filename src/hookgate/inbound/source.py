"""One inbound route's configuration (a *source*): how its webhooks are verified and what else is checked.

A `Source` is validated when it is built (in `__post_init__`, or from a TOML table with `Source.from_mapping`)
so a typo fails at start-up with a message naming the source and the field, not at the first webhook.

Secrets and keys may be references (``env:NAME``, ``file:PATH``), resolved exactly as an outbound endpoint's
are (`hookgate.outbound.security.resolve_secret`): at build time, where a reference that cannot be resolved
is a `ConfigError`, and again every `REFERENCE_TTL_S` seconds while requests arrive (`Source.verifier_at`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hookgate.config.references import REFERENCE_TTL_S, is_reference, resolve_secret
from hookgate.errors import ConfigError
from hookgate.inbound.net import Networks, parse_networks
from hookgate.policy.url import validate_url
from hookgate.schemes._base import Verifier
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.headers import check_header_name
from hookgate.schemes.jose import JweDecrypter, JwsVerifier
from hookgate.schemes.registry import SCHEME_NAMES, build_verifier, check_verify_options, claim_rules

__all__ = ["DEFAULT_MAX_BODY", "Source"]

DEFAULT_MAX_BODY = 1024 * 1024
_MAX_TOLERANCE = 86400  # a day: a wider window is no replay protection
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# RFC 3986 pchar without percent-encoding: ASGI and WSGI hand over decoded paths, so an escape can never
# match a request, and refusing it leaves no encoded dot-segment (%2e%2e) to slip past the segment check
_PATH_CHARS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/]+$")
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
        "jwks_tls",
        "forward_secret",
        "forward_tls",
        "sender_keys",
    }
)


@dataclass(slots=True)
class _Resolved:
    """What one reading of a source's secrets and keys built, and until when it may be used."""

    verifier: Verifier | None
    decrypter: JweDecrypter | None  # jwe: our decryption keys, to wrap around the JWKS-fetched JWS keys
    valid_until: float


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """Everything needed to accept one provider's webhooks.

    ``secrets`` (several at once while rotating) or ``keys`` (PEM/JWK/JWKS text) feed the scheme's verifier;
    any of them may be an ``env:NAME`` or ``file:PATH`` reference. For scheme ``jwe``, ``keys`` are our
    private keys and ``sender_keys`` (or ``jwks_url``) the sender's public keys verifying the JWS inside.
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
    # TLS for the jwks_url fetch, in an endpoint's ``tls`` shape: a JWKS served behind a private CA or mTLS
    jwks_tls: Mapping[str, Any] | None = field(default=None, repr=False)
    # the gateway re-signs what it forwards with this Standard Webhooks secret (default: the gateway's own)
    forward_secret: str | None = field(default=None, repr=False)
    # TLS for the forward_to connection, in an endpoint's ``tls`` shape (ca_bundle, client_cert, client_key,
    # min_version): a destination behind a private CA or requiring mutual TLS
    forward_tls: Mapping[str, Any] | None = field(default=None, repr=False)
    # scheme "jwe": the sender's public keys (PEM/JWK/JWKS) verifying the JWS inside the JWE
    sender_keys: tuple[str, ...] = field(default=(), repr=False)
    _resolved: _Resolved = field(init=False, repr=False)
    _references: bool = field(init=False, repr=False)
    _rules: ClaimRules = field(init=False, repr=False)
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
        if self.path is not None:
            _check_path(self.path, where)
        object.__setattr__(self, "_allow", parse_networks(self.allow_ips, f"{where}: allow_ips"))
        object.__setattr__(
            self, "_trusted", parse_networks(self.trusted_proxies, f"{where}: trusted_proxies")
        )
        if self.forward_secret is not None:
            _check_forward_secret(self.forward_secret, where)
        _check_tls_tables(self, where)
        _check_options(self, where)
        if self.jwks_url is not None:
            _check_jwks(self, where)
        if self.sender_keys and self.scheme != "jwe":
            raise ConfigError(f"{where}: sender_keys are only for scheme jwe")
        texts = (*self.secrets, *self.keys, *self.sender_keys)
        if not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"{where}: secrets, keys and sender_keys must be strings")
        object.__setattr__(self, "_references", any(is_reference(t) for t in texts))
        try:
            rules = claim_rules(self.scheme_options, tolerance=self.tolerance_s)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        object.__setattr__(self, "_rules", rules)
        # a reference that cannot be resolved fails here, at load, never becoming a key
        object.__setattr__(self, "_resolved", self._resolve(-math.inf))

    def _resolve(self, now: float) -> _Resolved:
        """Resolve the secrets and keys (references included) and build the verifier from them."""
        where = f"source {self.name!r}"
        secrets = [resolve_secret(v, f"{where}: secrets[{i}]") for i, v in enumerate(self.secrets)]
        keys = [resolve_secret(v, f"{where}: keys[{i}]").encode() for i, v in enumerate(self.keys)]
        sender = [
            resolve_secret(v, f"{where}: sender_keys[{i}]").encode() for i, v in enumerate(self.sender_keys)
        ]
        # with references, read them again after the same interval as an outbound endpoint's
        valid_until = now + REFERENCE_TTL_S if self._references else math.inf
        options = dict(self.scheme_options)
        try:
            if self.jwks_url is not None and self.scheme == "jws" and not keys:
                return _Resolved(None, None, valid_until)
            if self.jwks_url is not None and self.scheme == "jwe" and not sender:
                # the inner JWS keys arrive with the JWKS: until then only the decryption keys exist, and
                # they are never a verifier on their own (`jwks_verifier` wraps them around the fetched keys)
                options["require_signature"] = False
                base = build_verifier(self.scheme, secrets, keys, tolerance=self.tolerance_s, options=options)
                assert isinstance(base, JweDecrypter)  # noqa: S101 - the registry's class for "jwe"
                return _Resolved(None, base, valid_until)
            verifier = build_verifier(
                self.scheme,
                secrets,
                keys,
                tolerance=self.tolerance_s,
                options=options,
                sender_keys=sender,
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        decrypter = verifier if isinstance(verifier, JweDecrypter) else None
        return _Resolved(verifier, decrypter, valid_until)

    @property
    def verifier(self) -> Verifier | None:
        """The static verifier, or None for a JWKS-URL source without static keys (see `JwksFetcher`)."""
        return self._resolved.verifier

    def verifier_at(self, now: float) -> Verifier | None:
        """The static verifier at ``now``: rebuilt from the references once they are due to be read again.

        Raises `ConfigError` when a reference no longer resolves (a deleted file, an unset variable): the
        request is then refused as unavailable rather than checked against a key that was withdrawn.
        """
        resolved = self._resolved
        if now >= resolved.valid_until:
            resolved = self._resolve(now)
            object.__setattr__(self, "_resolved", resolved)
        return resolved.verifier

    def jwks_verifier(self, fetched: JwsVerifier) -> Verifier:
        """The verifier using keys fetched from ``jwks_url``: the JWS verifier itself, or for a JWE our
        decryption keys around it (call `verifier_at` first, which keeps those keys current)."""
        if self.scheme == "jws":
            return fetched
        decrypter = self._resolved.decrypter
        assert decrypter is not None  # noqa: S101 - every jwe source has decryption keys
        return decrypter.nested(fetched)

    @property
    def claim_rules(self) -> ClaimRules:
        """How token claims are judged (token schemes; a JWKS-fetched verifier uses them too)."""
        return self._rules

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
            if key in ("secrets", "keys", "sender_keys", "allow_ips", "trusted_proxies", "jwks_allow"):
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
    from hookgate.config.references import resolve_secret
    from hookgate.schemes.registry import build_signer

    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where}: forward_secret must be a whsec_ secret or an env:/file: reference")
    try:
        build_signer("standard-webhooks", [resolve_secret(secret, f"{where}: forward_secret")], [])
    except ConfigError as exc:
        raise ConfigError(f"{where}: forward_secret: {exc}") from None


def _check_tls_tables(source: Source, where: str) -> None:
    # the endpoint's own validator, so forward_tls and jwks_tls accept and refuse exactly what an endpoint's
    # tls section does
    from hookgate.config.sections import parse_tls

    if source.jwks_tls is not None and source.jwks_url is None:
        raise ConfigError(f"{where}: jwks_tls is only for a source with jwks_url")
    for name, tls in (("forward_tls", source.forward_tls), ("jwks_tls", source.jwks_tls)):
        if tls is None:
            continue
        if not isinstance(tls, Mapping):
            raise ConfigError(
                f"{where}: {name} must be a table (ca_bundle, client_cert, client_key, min_version)"
            )
        try:
            parse_tls(tls, now=time.time())
        except ConfigError as exc:
            # the validator's messages name the field "tls..."; here it is forward_tls or jwks_tls
            raise ConfigError(f"{where}: {name.removesuffix('tls')}{exc}") from None


def _check_path(path: object, where: str) -> None:
    """A route path in normal form: no dot-segments, empty segments or percent-escapes.

    The path is matched exactly, so ``/inbound/../api/v1/tokens`` would be served by the source here while a
    proxy or log reader normalises it to another route; such paths are refused rather than rewritten.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where}: path must start with '/'")
    if len(path) > 1024 or not _PATH_CHARS.match(path):
        raise ConfigError(
            f"{where}: path may hold only letters, digits and -._~!$&'()*+,;=:@/ (no percent-escapes, "
            "spaces or backslashes), at most 1024 characters"
        )
    segments = path[1:].split("/")
    if segments[-1] == "":  # a trailing slash (or the root) is a route of its own, not an empty segment
        segments.pop()
    if any(segment in ("", ".", "..") for segment in segments):
        raise ConfigError(f"{where}: path must be normalised: no '.' or '..' segments and no '//'")


def _check_options(source: Source, where: str) -> None:
    # the registry's rule, checked here too because a JWKS-URL source builds its verifier only later
    try:
        check_verify_options(source.scheme, source.scheme_options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_jwks(source: Source, where: str) -> None:
    if source.scheme not in ("jws", "jwe"):
        raise ConfigError(f"{where}: jwks_url is only for scheme jws or jwe (the sender's signing keys)")
    if source.scheme_options.get("require_signature") is False:
        raise ConfigError(f"{where}: jwks_url verifies the inner JWS, which require_signature = false waives")
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
