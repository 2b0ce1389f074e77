"""Settings: the only module that reads the environment (and the optional TOML file).

Precedence, lowest first: defaults, the TOML file (``HOOKGATE_CONFIG`` or ``--config``), ``HOOKGATE_*``
environment variables, then explicit overrides from the command line. Every value is validated here, once,
with a message that names the setting and where it came from.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError

__all__ = ["Settings", "load_settings", "master_key_box"]

_ENV_PREFIX = "HOOKGATE_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a hookgate process needs to start; see the README for each variable."""

    data_dir: Path = Path("hookgate-data")
    database_url: str | None = None  # None: SQLite file in data_dir
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # delivery engine
    worker_concurrency: int = 128
    claim_batch: int = 100
    lease_seconds: float = 60.0
    # CIDRs that outbound delivery may reach although they are not global addresses (trusted internal targets)
    ssrf_allowlist: tuple[str, ...] = ()
    # disable an endpoint that has failed continuously for this long
    disable_after_seconds: float = 5 * 24 * 3600.0
    # operational events: message.attempt.failing after this many consecutive failed attempts at an endpoint
    # (counted per worker process), source.refusals.spiking at this many refused inbound requests of one
    # source within the window
    opevents_failing_after: int = 5
    opevents_refusal_threshold: int = 100
    opevents_refusal_window_seconds: float = 60.0
    # OpenTelemetry spans for API requests, publishes and delivery attempts (needs hookgate[otel])
    otel_enabled: bool = False
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    # the web console: which sites may frame the consumer portal (CSP frame-ancestors sources, e.g.
    # "'self' https://app.example.com"), and its look (logo URL, accent colour #rrggbb, light/dark/auto)
    console_frame_ancestors: str = "'self'"
    console_logo_url: str | None = None
    console_accent: str = "#2563eb"
    console_theme: str = "auto"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.worker_concurrency < 1:
            raise ConfigError("worker_concurrency must be at least 1")
        if not 1 <= self.claim_batch <= 10_000:
            raise ConfigError("claim_batch must be 1-10000")
        if not 5 <= self.lease_seconds < math.inf:  # NaN fails the comparison too
            raise ConfigError(
                "lease_seconds must be at least 5 (a lease shorter than a request would re-deliver) "
                f"and finite, not {self.lease_seconds!r}"
            )
        if not 0 < self.disable_after_seconds < math.inf:
            raise ConfigError(
                f"disable_after_seconds must be a positive finite number, not {self.disable_after_seconds!r}"
            )
        _check_opevents(self)
        for cidr in self.ssrf_allowlist:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"ssrf_allowlist entry {cidr!r} is not a CIDR") from None
        _check_console(self)
        if self.database_url is not None and not self.database_url.startswith(
            ("sqlite://", "postgresql://", "postgres://", "memory://")
        ):
            raise ConfigError("database_url must start with sqlite://, postgresql:// or memory://")

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hookgate.db'}"


_CSP_SOURCE = re.compile(
    r"^(?:'self'|'none'|(?:https?://)?(?:\*\.)?[A-Za-z0-9.\-]+(?::(?:\d{1,5}|\*))?|https?:)$"
)
_ACCENT = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _check_opevents(settings: Settings) -> None:
    if not 1 <= settings.opevents_failing_after <= 1_000_000:
        raise ConfigError(
            f"opevents_failing_after must be 1-1000000, not {settings.opevents_failing_after!r}"
        )
    if not 1 <= settings.opevents_refusal_threshold <= 1_000_000_000:
        raise ConfigError(
            f"opevents_refusal_threshold must be 1-1000000000, not {settings.opevents_refusal_threshold!r}"
        )
    if not 1 <= settings.opevents_refusal_window_seconds <= 86_400:  # NaN fails the comparison too
        raise ConfigError(
            "opevents_refusal_window_seconds must be 1-86400 seconds, "
            f"not {settings.opevents_refusal_window_seconds!r}"
        )


def _check_console(settings: Settings) -> None:
    # these go into a response header and a stylesheet: only well-formed values, nothing that could end
    # the directive or the rule they are written into
    sources = settings.console_frame_ancestors.split()
    if not sources or not all(_CSP_SOURCE.fullmatch(s) for s in sources):
        raise ConfigError(
            "console_frame_ancestors must be CSP sources such as 'self' or https://app.example.com, "
            f"separated by spaces, not {settings.console_frame_ancestors!r}"
        )
    if "'none'" in sources and len(sources) > 1:
        raise ConfigError("console_frame_ancestors: 'none' cannot be combined with other sources")
    if not _ACCENT.fullmatch(settings.console_accent):
        raise ConfigError(f"console_accent must be a colour #rrggbb, not {settings.console_accent!r}")
    if settings.console_theme not in ("auto", "light", "dark"):
        raise ConfigError(f"console_theme must be auto, light or dark, not {settings.console_theme!r}")
    logo = settings.console_logo_url
    if logo is not None and not re.fullmatch(r"(?:/|https://)[^\s\"'<>()\\;]{0,2000}", logo):
        raise ConfigError("console_logo_url must be a path on this server (/...) or an https:// URL")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


_CONVERTERS: dict[str, Any] = {
    "data_dir": Path,
    "master_key_file": Path,
    "port": int,
    "worker_concurrency": int,
    "claim_batch": int,
    "lease_seconds": float,
    "disable_after_seconds": float,
    "opevents_failing_after": int,
    "opevents_refusal_threshold": int,
    "opevents_refusal_window_seconds": float,
    "otel_enabled": _bool,
}


# what a TOML value of each converted setting must already be: TOML has types, the environment only text
_TOML_TYPES: dict[str, tuple[type, ...]] = {
    "port": (int,),
    "worker_concurrency": (int,),
    "claim_batch": (int,),
    "lease_seconds": (int, float),
    "disable_after_seconds": (int, float),
    "opevents_failing_after": (int,),
    "opevents_refusal_threshold": (int,),
    "opevents_refusal_window_seconds": (int, float),
    "otel_enabled": (bool,),
}


def _convert(name: str, value: Any, origin: str, *, typed: bool = False) -> Any:
    expected = _TOML_TYPES.get(name)
    if typed and expected is not None:
        # no coercion of a typed value: "8000" is not 8000, true is not 1, 8000.5 is not 8000
        if isinstance(value, bool) != (expected == (bool,)) or not isinstance(value, expected):
            kinds = " or ".join(t.__name__ for t in expected)
            raise ConfigError(f"{origin}: {name} must be {kinds}, not {value!r}")
        return float(value) if isinstance(value, int | float) and float in expected else value
    if name == "ssrf_allowlist":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{origin}: ssrf_allowlist must be a list of CIDR strings")
    converter = _CONVERTERS.get(name)
    if converter is None:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {name} must be a string")
        return value
    try:
        return converter(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {name} has an invalid value {value!r}") from None


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build `Settings` from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    config_file = config_file or (Path(env["HOOKGATE_CONFIG"]) if env.get("HOOKGATE_CONFIG") else None)
    if config_file is not None:
        try:
            document = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
        section = document.get("hookgate", document)
        for key, value in section.items():
            if not isinstance(value, dict):
                if key not in names:
                    raise ConfigError(f"{config_file}: unknown setting {key!r}")
                values[key] = _convert(key, value, str(config_file), typed=True)
    for name in names:
        raw = env.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, _ENV_PREFIX + name.upper())
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return replace(Settings(), **values)


def master_key_box(settings: Settings, *, create: bool = False) -> SecretBox:
    """The `SecretBox` for secrets at rest, from ``HOOKGATE_MASTER_KEY`` or the master key file.

    With ``create`` (the embedded default's first start), a missing key file in the data directory is created
    with mode 0600, so a fresh install needs no configuration and still stores no plaintext secret.
    """
    if settings.master_key:
        return SecretBox(parse_master_keys(settings.master_key))
    path = settings.master_key_file or settings.data_dir / "master.key"
    if not path.exists():
        if not create:
            raise ConfigError(
                f"no master key: set HOOKGATE_MASTER_KEY or create {path} (hookgate serve does)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(f"k1:{generate_master_key()}\n")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read master key file {path}: {exc}") from None
    return SecretBox(parse_master_keys(text))
