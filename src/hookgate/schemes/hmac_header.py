"""Configurable HMAC signatures carried in one header: the shape most providers use.

An `HmacConfig` says which header carries the signature, the hash (sha256/sha512), the encoding (hex or
base64), a prefix on the value (``sha256=``), what is signed (a template over ``{id}``, ``{timestamp}`` and
``{body}``) and, when the template uses them, which headers carry the id and the timestamp. The provider
presets (GitHub, Shopify, Slack) in `hookgate.schemes.providers` are instances of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hookgate.errors import ConfigError, KeyFormatError, MalformedError, SignatureError, TimestampError
from hookgate.keys import Secret, parse_symmetric_secret
from hookgate.schemes._base import Signed, Verified, get_header
from hookgate.schemes.headers import check_header_name, check_header_value

__all__ = ["ALGORITHMS", "ENCODINGS", "HmacConfig", "HmacSigner", "HmacVerifier"]

ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
ENCODINGS = ("hex", "base64")
_PLACEHOLDER = re.compile(r"\{(body|id|timestamp)\}")
MAX_SIGNATURE_HEADER = 2048
MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class HmacConfig:
    """How a header-HMAC scheme signs. Validated on construction with a precise `ConfigError`."""

    header: str = "X-Signature"
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    template: str = "{body}"
    timestamp_header: str | None = None
    id_header: str | None = None
    tolerance: int = 300

    def __post_init__(self) -> None:
        for label, name in (
            ("header", self.header),
            ("timestamp_header", self.timestamp_header),
            ("id_header", self.id_header),
        ):
            if name is not None:
                try:
                    check_header_name(name)
                except ConfigError as exc:
                    raise ConfigError(f"{label}: {exc}") from None
        _check_prefix(self.prefix, self.header)
        if not isinstance(self.algorithm, str) or self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {sorted(ALGORITHMS)}, not {self.algorithm!r}")
        if not isinstance(self.encoding, str) or self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {list(ENCODINGS)}, not {self.encoding!r}")
        if not isinstance(self.template, str):
            raise ConfigError(f"template must be a string, not {type(self.template).__name__}")
        fields = _PLACEHOLDER.findall(self.template)
        if fields.count("body") != 1:
            raise ConfigError("template must contain {body} exactly once")
        stripped = _PLACEHOLDER.sub("", self.template)
        if "{" in stripped or "}" in stripped:
            raise ConfigError("template may only use the placeholders {body}, {id} and {timestamp}")
        if "timestamp" in fields and self.timestamp_header is None:
            raise ConfigError("template uses {timestamp} but no timestamp_header is configured")
        if "id" in fields and self.id_header is None:
            raise ConfigError("template uses {id} but no id_header is configured")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int) or self.tolerance < 0:
            raise ConfigError(
                f"tolerance must be a whole number of seconds, at least 0, not {self.tolerance!r}"
            )

    @property
    def uses_timestamp(self) -> bool:
        return "{timestamp}" in self.template

    @property
    def uses_id(self) -> bool:
        return "{id}" in self.template

    def split_template(self, msg_id: str, timestamp: int | None) -> tuple[bytes, bytes]:
        """The bytes signed before and after the body."""
        before, _, after = self.template.partition("{body}")

        def fill(part: str) -> bytes:
            return part.replace("{id}", msg_id).replace("{timestamp}", str(timestamp)).encode()

        return fill(before), fill(after)


def _check_prefix(prefix: object, header: str) -> None:
    if not isinstance(prefix, str):
        raise ConfigError(f"prefix must be a string, not {type(prefix).__name__}")
    try:
        # the prefix starts the signature header's value: it must survive being sent as one
        check_header_value(prefix + "0", header)
    except ConfigError as exc:
        raise ConfigError(f"prefix: {exc}") from None


def _secrets(values: Sequence[Secret | str | bytes], what: str) -> list[Secret]:
    if not values:
        raise KeyFormatError(f"{what} needs at least one secret")
    return [v if isinstance(v, Secret) else parse_symmetric_secret(v) for v in values]


def _mac(config: HmacConfig, secret: Secret, before: bytes, body: bytes, after: bytes) -> bytes:
    mac = hmac.new(secret.reveal(), before, ALGORITHMS[config.algorithm])
    mac.update(body)
    if after:
        mac.update(after)
    digest = mac.digest()
    return digest.hex().encode() if config.encoding == "hex" else base64.b64encode(digest)


class HmacSigner:
    """Put one ``prefix + encoded MAC`` per active secret in the configured header (comma-separated)."""

    __slots__ = ("_secrets", "config")

    def __init__(self, config: HmacConfig, secrets: Sequence[Secret | str | bytes]) -> None:
        self.config = config
        self._secrets = _secrets(secrets, "HMAC signing")

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        cfg = self.config
        if cfg.id_header is not None:
            _check_id(msg_id, cfg.id_header)
        timestamp = int(now) if cfg.uses_timestamp else None
        before, after = cfg.split_template(msg_id, timestamp)
        values = [cfg.prefix + _mac(cfg, s, before, body, after).decode("ascii") for s in self._secrets]
        headers = {cfg.header: ", ".join(values)}
        if cfg.timestamp_header is not None:
            headers[cfg.timestamp_header] = str(int(now))
        if cfg.id_header is not None:
            headers[cfg.id_header] = msg_id
        return Signed(headers, body)

    def __repr__(self) -> str:
        return f"HmacSigner(header={self.config.header!r}, secrets=<{len(self._secrets)} redacted>)"


class HmacVerifier:
    """Accept when any comma-separated value of the header equals the MAC under any configured secret."""

    __slots__ = ("_secrets", "config")

    def __init__(self, config: HmacConfig, secrets: Sequence[Secret | str | bytes]) -> None:
        self.config = config
        self._secrets = _secrets(secrets, "HMAC verification")

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        cfg = self.config
        value = get_header(headers, cfg.header.lower())
        if value is None:
            raise MalformedError(f"missing {cfg.header} header", reason="missing_header")
        if len(value) > MAX_SIGNATURE_HEADER:
            raise MalformedError(f"{cfg.header} header is too long", reason="bad_signature_header")
        msg_id = ""
        if cfg.id_header is not None:
            found_id = get_header(headers, cfg.id_header.lower())
            if found_id is None and cfg.uses_id:
                raise MalformedError(f"missing {cfg.id_header} header", reason="missing_header")
            msg_id = found_id or ""
            _check_id(msg_id, cfg.id_header)
        timestamp: int | None = None
        if cfg.uses_timestamp and cfg.timestamp_header is not None:
            timestamp = _parse_timestamp(
                get_header(headers, cfg.timestamp_header.lower()), cfg.timestamp_header
            )
            check_window(timestamp, now, cfg.tolerance)
        candidates = []
        for raw_part in value.split(","):
            part = raw_part.strip()
            if part.startswith(cfg.prefix):
                try:
                    candidates.append(part[len(cfg.prefix) :].encode("ascii"))
                except UnicodeEncodeError:
                    raise MalformedError(
                        f"{cfg.header} is not ASCII", reason="bad_signature_header"
                    ) from None
        if not candidates:
            raise MalformedError(
                f"{cfg.header} has no value with the expected prefix", reason="bad_signature_header"
            )
        before, after = cfg.split_template(msg_id, timestamp)
        for index, secret in enumerate(self._secrets):
            expected = _mac(cfg, secret, before, body, after)
            matched = False
            for candidate in candidates:
                # hex is case-insensitive on the wire; normalise the candidate, never the expected value
                got = candidate.lower() if cfg.encoding == "hex" else candidate
                matched |= hmac.compare_digest(expected, got)
            if matched:
                return Verified(body, msg_id=msg_id or None, timestamp=timestamp, key_id=str(index))
        raise SignatureError(f"{cfg.header} did not match", reason="signature_mismatch")

    def __repr__(self) -> str:
        return f"HmacVerifier(header={self.config.header!r}, secrets=<{len(self._secrets)} redacted>)"


def _check_id(msg_id: str, header: str) -> None:
    if len(msg_id) > 256 or not msg_id.isascii() or not msg_id.isprintable():
        raise MalformedError(f"{header} is too long or not printable ASCII", reason="bad_id")


def _parse_timestamp(text: str | None, header: str) -> int:
    if text is None:
        raise MalformedError(f"missing {header} header", reason="missing_header")
    text = text.strip()
    if not (0 < len(text) <= MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()):
        raise MalformedError(f"{header} is not an integer number of seconds", reason="bad_timestamp")
    return int(text)


def check_window(timestamp: int, now: float, tolerance: int) -> None:
    """Raise `TimestampError` unless ``timestamp`` is within ``tolerance`` seconds of ``now``, both ways."""
    if timestamp < now - tolerance:
        raise TimestampError("timestamp is too old", reason="timestamp_too_old")
    if timestamp > now + tolerance:
        raise TimestampError("timestamp is too far in the future", reason="timestamp_in_future")
