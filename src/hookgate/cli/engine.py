"""The engine commands: run and administer a hookgate installation (``serve``, ``worker``, ``gateway``,
``migrate``, ``keyring``, ``master-key``, ``demo``) over the library's services and its settings.

A store that cannot be reached exits 1 (try again later); bad settings exit 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from hookgate.cli._common import fail
from hookgate.client import Hookgate
from hookgate.config import Settings, load_settings
from hookgate.crypto import generate_master_key
from hookgate.errors import HookgateError, StoreError
from hookgate.logs import configure_logging
from hookgate.store import apply_migrations

__all__ = ["demo", "gateway", "keyring", "master_key", "migrate", "serve", "worker"]

T = TypeVar("T")


def _exit_for(exc: HookgateError) -> NoReturn:
    """An unreachable store exits 1 (try again later); any other error exits with its own code."""
    fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)


def _run(main: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(main)
    except HookgateError as exc:
        _exit_for(exc)


def _settings_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--database-url",
        help="sqlite:///path, postgresql://... (default: HOOKGATE_DATABASE_URL, else SQLite in --data-dir).",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where the SQLite file and keys live.",
    )(func)
    return click.option(
        "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), help="A TOML config file."
    )(func)


def _load(config_file: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config_file=config_file, overrides=overrides)
    except HookgateError as exc:
        fail(str(exc), 2)


@click.command()
@_settings_options
def migrate(config_file: Path | None, database_url: str | None, data_dir: Path | None) -> None:
    """Apply pending database migrations (safe to run from many processes at once)."""
    from rich.console import Console

    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    # a spinner on stderr, only on a terminal (rich draws nothing otherwise); stdout keeps the one result line
    try:
        with Console(stderr=True).status("applying database migrations ..."):
            applied = asyncio.run(apply_migrations(settings.store_url))
    except HookgateError as exc:
        _exit_for(exc)
    if applied:
        click.echo(f"applied migrations {', '.join(str(v) for v in applied)}")
    else:
        click.echo("database is up to date")


@click.command()
@_settings_options
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="Requests in flight at once.")
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def worker(
    config_file: Path | None,
    database_url: str | None,
    data_dir: Path | None,
    concurrency: int | None,
    log_format: str,
    log_level: str,
) -> None:
    """Run delivery workers until SIGTERM/SIGINT, then finish or release in-flight deliveries."""
    settings = _load(
        config_file, database_url=database_url, data_dir=data_dir, worker_concurrency=concurrency
    )
    configure_logging(fmt=log_format, level=log_level)
    _run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    if settings.otel_enabled:
        from hookgate.tracing import configure_tracing

        configure_tracing(service_name="hookgate-worker")
    from hookgate.runtime import running

    hg = await Hookgate.open(settings=settings)
    try:
        async with running() as runtime:
            runtime.start_worker(hg.worker())
            await runtime.wait()
    finally:
        await hg.close()


# -- hookgate's own keys -------------------------------------------------------------------------------


async def _with_hookgate(settings: Settings, fn: Callable[[Hookgate], Awaitable[T]]) -> T:
    hg = await Hookgate.open(settings=settings)
    try:
        return await fn(hg)
    finally:
        await hg.close()


def _run_store_command(settings: Settings, fn: Callable[[Hookgate], Awaitable[T]]) -> T:
    return _run(_with_hookgate(settings, fn))


@click.group()
def keyring() -> None:
    """hookgate's JWS signing keys: list, generate, activate, retire (public halves: the JWKS)."""


@keyring.command("list")
@_settings_options
def keyring_list(config_file: Path | None, database_url: str | None, data_dir: Path | None) -> None:
    """One line per key: kid, type, algorithm, status."""
    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    for key in _run_store_command(settings, lambda hg: hg.keyring.keys()):
        click.echo(f"{key.kid}  {key.kind:<8} {key.alg:<6} {key.status}")


@keyring.command("generate")
@_settings_options
@click.option(
    "--type", "kind", type=click.Choice(["ed25519", "ec", "rsa"]), default="ed25519", show_default=True
)
@click.option("--activate", is_flag=True, help="Sign with it at once (default: pending, published first).")
def keyring_generate(
    config_file: Path | None, database_url: str | None, data_dir: Path | None, kind: str, activate: bool
) -> None:
    """Add a key; print its kid."""
    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    key = _run_store_command(settings, lambda hg: hg.keyring.generate(kind, activate=activate))
    click.echo(key.kid)


@keyring.command("activate")
@_settings_options
@click.argument("kid")
def keyring_activate(
    config_file: Path | None, database_url: str | None, data_dir: Path | None, kid: str
) -> None:
    """Sign with KID from now on; the previous key stays published until retired."""
    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    key = _run_store_command(settings, lambda hg: hg.keyring.activate(kid))
    click.echo(f"{key.kid} {key.status}")


@keyring.command("retire")
@_settings_options
@click.argument("kid")
def keyring_retire(
    config_file: Path | None, database_url: str | None, data_dir: Path | None, kid: str
) -> None:
    """Remove KID from the JWKS (not the active key)."""
    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    key = _run_store_command(settings, lambda hg: hg.keyring.retire(kid))
    click.echo(f"{key.kid} {key.status}")


@click.group("master-key")
def master_key() -> None:
    """The master key that seals every stored secret."""


@master_key.command("generate")
def master_key_generate() -> None:
    """Print a new master key (base64 of 32 random bytes) for HOOKGATE_MASTER_KEY or the key file."""
    click.echo(generate_master_key())


@master_key.command("rotate")
@_settings_options
def master_key_rotate(config_file: Path | None, database_url: str | None, data_dir: Path | None) -> None:
    """Re-seal every stored secret under the primary (first) master key; then the old key can be dropped."""
    settings = _load(config_file, database_url=database_url, data_dir=data_dir)
    count = _run_store_command(settings, lambda hg: hg.rotate_master_key())
    click.echo(f"re-sealed {count} records")


@click.command()
@click.option(
    "--config",
    "gateway_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The gateway's TOML file ([gateway] and [sources.<name>] tables).",
)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help="SQLite file and keys.")
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def gateway(gateway_file: Path, data_dir: Path | None, log_format: str, log_level: str) -> None:
    """Receive webhooks from many providers, store them durably, forward them re-signed (until SIGTERM)."""
    from hookgate.gateway.config import GatewayConfig
    from hookgate.gateway.server import run_gateway

    settings = _load(None, data_dir=data_dir)
    try:
        config = GatewayConfig.load(gateway_file)
    except HookgateError as exc:
        fail(str(exc), 2)
    configure_logging(fmt=log_format, level=log_level)
    _run(run_gateway(config, settings))


@click.command()
@_settings_options
@click.option("--host", help="Listen address (default: HOOKGATE_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (default: HOOKGATE_PORT or 8000).")
@click.option("--no-workers", is_flag=True, help="Serve the API only; `hookgate worker` processes deliver.")
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def serve(
    config_file: Path | None,
    database_url: str | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    no_workers: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Run the management API and the delivery workers (SQLite in ./hookgate-data by default)."""
    from hookgate.api.serve import run_server

    settings = _load(config_file, database_url=database_url, data_dir=data_dir, host=host, port=port)
    configure_logging(fmt=log_format, level=log_level)
    _run(run_server(settings, workers=not no_workers, announce=click.echo))


@click.command()
@click.option("--once", is_flag=True, help="Exit 0 once every scheme has a verified delivery (1 after 30 s).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="API port.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="SQLite file and keys (default: a temporary directory, removed on exit).",
)
def demo(once: bool, port: int, data_dir: Path | None) -> None:
    """Show every delivery scheme end to end: server, receivers, one endpoint per scheme, verified."""
    from hookgate.demo import run_demo

    configure_logging(fmt="console", level="warning")
    code = _run(run_demo(once=once, port=port, data_dir=data_dir))
    sys.exit(code)
