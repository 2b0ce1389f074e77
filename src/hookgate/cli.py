"""The command line: thin commands over the library's services.

Exit codes are a contract that scripts rely on: 0 success (``verify``: the request is genuine), 1 the request
is not genuine (one-line reason on stderr), 2 a usage or configuration error.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from hookgate.client import Hookgate
from hookgate.config import Settings, load_settings
from hookgate.crypto import generate_master_key
from hookgate.errors import HookgateError, StoreError, VerificationError
from hookgate.logs import configure_logging
from hookgate.models import validate_event_type
from hookgate.schemes import registry as cli_schemes
from hookgate.schemes._base import EventSigner
from hookgate.store import apply_migrations

__all__ = ["main"]

T = TypeVar("T")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"hookgate: {message}", err=True)
    sys.exit(code)


def _read_body(body_file: Path | None) -> bytes:
    if body_file is None or str(body_file) == "-":
        return sys.stdin.buffer.read()
    try:
        return body_file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read body file {body_file}: {exc.strerror}", 2)


def _parse_headers(raw: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n"):
            _fail(f"--header must look like 'Name: value', got {item!r}", 2)
        headers[name] = value.strip()
    return headers


def _read_keys(key_files: tuple[Path, ...]) -> list[bytes]:
    keys = []
    for path in key_files:
        try:
            keys.append(path.read_bytes())
        except OSError as exc:
            _fail(f"cannot read key file {path}: {exc.strerror}", 2)
    return keys


_scheme_option = click.option(
    "--scheme",
    required=True,
    type=click.Choice(cli_schemes.SCHEME_NAMES),
    help="Which scheme to use.",
)
_secret_option = click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="A shared secret (repeat for rotation: any of them). For basic: 'id:secret'.",
)
_key_option = click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A key file, PEM or JWK (repeat for rotation: any of them).",
)
_body_option = click.option(
    "--body-file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="The raw body (default: standard input).",
)


def _scheme_options(func: click.decorators.FC) -> click.decorators.FC:
    """Options that only some schemes read; giving one to a scheme that does not read it is an error."""
    options = [
        click.option(
            "--header-name", help="Header carrying the signature or credential (hmac, api-key, ...)."
        ),
        click.option("--algorithm", type=click.Choice(["sha256", "sha512"]), help="hmac: digest algorithm."),
        click.option("--encoding", type=click.Choice(["hex", "base64"]), help="hmac: signature encoding."),
        click.option("--prefix", help="hmac: text before the signature, e.g. 'sha256='."),
        click.option(
            "--alg", help="jws/jwe: JOSE algorithm (RS256, ES256, EdDSA; RSA-OAEP-256, ECDH-ES+A256KW)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
@click.version_option(package_name="hookgate")
def main() -> None:
    """hookgate: webhooks you can trust in both directions."""


@main.command()
@_scheme_option
@_secret_option
@_key_option
@click.option("--header", "raw_headers", multiple=True, help="A request header, 'Name: value' (repeatable).")
@_body_option
@click.option("--now", type=int, help="Current time as Unix seconds (default: the clock).")
@click.option(
    "--tolerance", type=click.IntRange(min=0), help="Accepted timestamp skew in seconds (default 300)."
)
@click.option("--issuer", help="jwt-hs256/jws/jwe: the iss claim the token must carry.")
@click.option("--audience", help="jwt-hs256/jws/jwe: the aud claim the token must carry.")
@click.option(
    "--allow-no-exp",
    is_flag=True,
    help="jwt-hs256/jws/jwe: accept a token without exp (hookgate's own JWS/JWE payloads carry none).",
)
@click.option(
    "--sender-key",
    "sender_key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="jwe: the sender's public key file (PEM, JWK or JWKS) verifying the JWS inside (repeatable).",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="jwe: accept a JWE without an inner JWS (it proves nothing about who made it).",
)
@_scheme_options
def verify(
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    raw_headers: tuple[str, ...],
    body_file: Path | None,
    now: int | None,
    tolerance: int | None,
    issuer: str | None,
    audience: str | None,
    allow_no_exp: bool,
    sender_key_files: tuple[Path, ...],
    allow_unsigned: bool,
    **options: str | None,
) -> None:
    """Verify a webhook: exit 0 and print the verified payload, or exit 1 with the reason."""
    headers = _parse_headers(raw_headers)
    keys = _read_keys(key_files)
    sender_keys = _read_keys(sender_key_files)
    body = _read_body(body_file)
    claim_options = {
        "issuer": issuer,
        "audience": audience,
        # only a flag that was given becomes an option (None is "not given"), so a scheme without claims
        # refuses --allow-no-exp rather than ignoring it
        "require_exp": False if allow_no_exp else None,
        "require_signature": False if allow_unsigned else None,
    }
    try:
        verifier = cli_schemes.build_verifier(
            scheme,
            secrets,
            keys,
            tolerance=tolerance,
            options={**options, **claim_options},
            sender_keys=sender_keys,
        )
    except HookgateError as exc:
        _fail(str(exc), 2)
    try:
        verified = verifier.verify(body, headers, now=time.time() if now is None else now)
    except VerificationError as exc:
        _fail(f"invalid: {exc}", 1)
    sys.stdout.buffer.write(verified.payload)
    sys.stdout.buffer.flush()


@main.command()
@_scheme_option
@_secret_option
@_key_option
@click.option("--id", "msg_id", help="Message id (default: a new random id).")
@click.option("--timestamp", type=int, help="Signing time as Unix seconds (default: the clock).")
@click.option(
    "--event-type", help="github/shopify: the event type, sent as X-GitHub-Event / X-Shopify-Topic."
)
@_body_option
@_scheme_options
def sign(
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    msg_id: str | None,
    timestamp: int | None,
    event_type: str | None,
    body_file: Path | None,
    **options: str | None,
) -> None:
    """Sign a body: print the headers to add, one 'Name: value' per line (JWS/JWE: the token)."""
    keys = _read_keys(key_files)
    body = _read_body(body_file)
    now = time.time() if timestamp is None else timestamp
    msg_id = msg_id or cli_schemes.new_message_id()
    try:
        signer = cli_schemes.build_signer(scheme, secrets, keys, options=options)
        if event_type is not None and isinstance(signer, EventSigner):
            signed = signer.sign_event(
                body, msg_id=msg_id, event_type=validate_event_type(event_type), created_at=now, now=now
            )
        else:
            signed = signer.sign(body, msg_id=msg_id, now=now)
    except HookgateError as exc:
        _fail(str(exc), 2)
    if cli_schemes.body_is_token(scheme):
        click.echo(signed.body.decode("ascii"))
    for name, value in signed.headers.items():
        click.echo(f"{name}: {value}")


@main.group()
def keys() -> None:
    """Generate and inspect keys."""


@keys.command("generate")
@click.option("--type", "key_type", required=True, type=click.Choice(["hmac", "ed25519", "rsa", "ec"]))
@click.option(
    "--public-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the public key (PEM) to this file (asymmetric types).",
)
def keys_generate(key_type: str, public_out: Path | None) -> None:
    """Print a new key: a whsec_ secret for hmac, a PEM private key otherwise."""
    try:
        private_text, public_text = cli_schemes.generate_key(key_type)
    except HookgateError as exc:
        _fail(str(exc), exc.exit_code)
    if public_out is not None:
        if public_text is None:
            _fail("--public-out needs an asymmetric key type", 2)
        public_out.write_text(public_text, encoding="ascii")
    click.echo(private_text.rstrip("\n"))


@keys.command("public")
@click.argument("key_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def keys_public(key_file: Path) -> None:
    """Print the public half (PEM) of a private key file."""
    try:
        click.echo(cli_schemes.public_pem(key_file.read_bytes()).rstrip("\n"))
    except HookgateError as exc:
        _fail(str(exc), exc.exit_code)


@main.command()
@click.argument("public_keys", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def jwks(public_keys: tuple[Path, ...]) -> None:
    """Print a JWKS document (public members only, RFC 7638 kids) for the given key files."""
    try:
        document = cli_schemes.jwks_document(_read_keys(public_keys))
    except HookgateError as exc:
        _fail(str(exc), exc.exit_code)
    click.echo(json.dumps(document, indent=2))


# -- the delivery engine -------------------------------------------------------------------------------


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
        _fail(str(exc), 2)


@main.command()
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
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)
    if applied:
        click.echo(f"applied migrations {', '.join(str(v) for v in applied)}")
    else:
        click.echo("database is up to date")


@main.command()
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
    try:
        asyncio.run(_run_worker(settings))
    except HookgateError as exc:
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)


async def _run_worker(settings: Settings) -> None:
    if settings.otel_enabled:
        from hookgate.tracing import configure_tracing

        configure_tracing(service_name="hookgate-worker")
    hg = await Hookgate.open(settings=settings)
    try:
        w = hg.worker()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, w.stop)
        try:
            await w.run()
        finally:
            await w.close()
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
    try:
        return asyncio.run(_with_hookgate(settings, fn))
    except HookgateError as exc:
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)


@main.group()
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


@main.group("master-key")
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


@main.command()
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
    from hookgate.inbound.gateway import GatewayConfig, run_gateway

    settings = _load(None, data_dir=data_dir)
    try:
        config = GatewayConfig.load(gateway_file)
    except HookgateError as exc:
        _fail(str(exc), 2)
    configure_logging(fmt=log_format, level=log_level)
    try:
        asyncio.run(run_gateway(config, settings))
    except HookgateError as exc:
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)


@main.command()
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
    try:
        asyncio.run(run_server(settings, workers=not no_workers, announce=click.echo))
    except HookgateError as exc:
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)


from hookgate.cli_api import register as _register_api_commands  # noqa: E402

_register_api_commands(main)


@main.command()
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
    try:
        code = asyncio.run(run_demo(once=once, port=port, data_dir=data_dir))
    except HookgateError as exc:
        _fail(str(exc), 1 if isinstance(exc, StoreError) else exc.exit_code)
    sys.exit(code)
