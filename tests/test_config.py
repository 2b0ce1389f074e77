"""Tests for settings: precedence, validation messages, and the master key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hookgate.config import Settings, load_settings, master_key_box
from hookgate.crypto import generate_master_key
from hookgate.errors import ConfigError


def test_defaults_use_sqlite_in_data_dir() -> None:
    settings = load_settings(environ={})
    assert settings.store_url == "sqlite:///hookgate-data/hookgate.db"
    assert settings.port == 8000


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "hookgate.toml"
    config.write_text('[hookgate]\nport = 9001\nhost = "0.0.0.0"\nssrf_allowlist = ["10.0.0.0/8"]\n')
    settings = load_settings(
        config_file=config, environ={"HOOKGATE_PORT": "9002"}, overrides={"host": "127.0.0.2", "port": None}
    )
    assert settings.port == 9002
    assert settings.host == "127.0.0.2"
    assert settings.ssrf_allowlist == ("10.0.0.0/8",)


def test_env_list_and_database_url() -> None:
    settings = load_settings(
        environ={
            "HOOKGATE_SSRF_ALLOWLIST": "10.0.0.0/8, 192.168.1.0/24",
            "HOOKGATE_DATABASE_URL": "postgresql://u@h/db",
        }
    )
    assert settings.ssrf_allowlist == ("10.0.0.0/8", "192.168.1.0/24")
    assert settings.store_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HOOKGATE_PORT": "eighty"}, "HOOKGATE_PORT: port has an invalid value 'eighty'"),
        ({"HOOKGATE_PORT": "70000"}, "port must be 1-65535"),
        ({"HOOKGATE_SSRF_ALLOWLIST": "10.0.0.0/33"}, "is not a CIDR"),
        ({"HOOKGATE_DATABASE_URL": "mysql://x"}, "database_url must start with"),
        ({"HOOKGATE_LEASE_SECONDS": "1"}, "lease_seconds must be at least 5"),
        # issue 10 item 16: non-finite numbers
        ({"HOOKGATE_LEASE_SECONDS": "nan"}, "lease_seconds must be at least 5 .* not nan"),
        ({"HOOKGATE_LEASE_SECONDS": "inf"}, "lease_seconds must be at least 5 .* not inf"),
        ({"HOOKGATE_DISABLE_AFTER_SECONDS": "nan"}, "disable_after_seconds must be a positive finite"),
        ({"HOOKGATE_DISABLE_AFTER_SECONDS": "1e400"}, "disable_after_seconds must be a positive finite"),
        ({"HOOKGATE_DISABLE_AFTER_SECONDS": "-1"}, "disable_after_seconds must be a positive finite"),
    ],
)
def test_invalid_environment_is_a_precise_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('port = "9001"', r"port must be int, not '9001'"),
        ("port = 9001.5", r"port must be int, not 9001.5"),
        ("port = true", r"port must be int, not True"),
        ("worker_concurrency = true", r"worker_concurrency must be int, not True"),
        ('lease_seconds = "60"', r"lease_seconds must be int or float, not '60'"),
        ("lease_seconds = nan", r"lease_seconds must be at least 5 .* not nan"),
        ("disable_after_seconds = inf", r"disable_after_seconds must be a positive finite number, not inf"),
        ('otel_enabled = "yes"', r"otel_enabled must be bool, not 'yes'"),
        ("otel_enabled = 1", r"otel_enabled must be bool, not 1"),
    ],
)
def test_config_file_values_are_not_coerced(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "hookgate.toml"
    config.write_text(f"[hookgate]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file=config, environ={})


def test_config_file_numbers_keep_their_values(tmp_path: Path) -> None:
    config = tmp_path / "hookgate.toml"
    config.write_text("[hookgate]\nport = 9001\nlease_seconds = 30\notel_enabled = true\n")
    settings = load_settings(config_file=config, environ={})
    assert (settings.port, settings.lease_seconds, settings.otel_enabled) == (9001, 30.0, True)
    assert isinstance(settings.lease_seconds, float)


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(config_file=bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config_file=unknown, environ={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})


def test_master_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="no master key"):
        master_key_box(settings)
    box = master_key_box(settings, create=True)
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    blob = box.seal(b"secret", b"aad")
    assert master_key_box(settings).open(blob, b"aad") == b"secret"


def test_master_key_from_environment_wins(tmp_path: Path) -> None:
    key = generate_master_key()
    settings = load_settings(environ={"HOOKGATE_MASTER_KEY": key, "HOOKGATE_DATA_DIR": str(tmp_path)})
    assert key not in repr(settings)
    master_key_box(settings)
    assert not (tmp_path / "master.key").exists()
