"""What the commands share: error exits, output (rich tables, ``--json``), input parsing, the API options.

Exit codes are a contract that scripts rely on: 0 success, 1 the request is not genuine or the API refused or
could not be reached (``hookgate: <message>`` on stderr), 2 a usage or configuration error.

The API commands' configuration, first match wins: ``--api-url`` / ``--token``, then ``HOOKGATE_API_URL``
/ ``HOOKGATE_TOKEN``, then the TOML file ``~/.config/hookgate/cli.toml`` (keys ``api_url`` and ``token``;
another path with ``HOOKGATE_CLI_CONFIG``); the URL defaults to http://127.0.0.1:8000. The token is never
printed.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from hookgate.cli.api_client import DEFAULT_API_URL, ApiClient, ApiError
from hookgate.errors import HookgateError

DEFAULT_CONFIG = Path("~/.config/hookgate/cli.toml")


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"hookgate: {message}", err=True)
    sys.exit(code)


def make_console() -> Console:
    # created per command: CliRunner (and redirection) swap sys.stdout, and rich reads COLUMNS at creation
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # piped or redirected: rich would assume 80 columns and wrap ids that people copy from the output
        console = Console(highlight=False, soft_wrap=False, width=200)
    return console


# -- configuration -------------------------------------------------------------------------------------


def _config_file() -> dict[str, Any]:
    configured = os.environ.get("HOOKGATE_CLI_CONFIG")
    file = Path(configured) if configured else DEFAULT_CONFIG.expanduser()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        if configured:
            fail(f"config file {file} does not exist (HOOKGATE_CLI_CONFIG)", 2)
        return {}
    except OSError as exc:
        fail(f"cannot read config file {file}: {exc.strerror}", 2)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"config file {file} is not valid TOML: {exc}", 2)
    for key in ("api_url", "token"):
        if key in data and not isinstance(data[key], str):
            fail(f"config file {file}: {key} must be a string", 2)
    return data


def _client(api_url: str | None, token: str | None) -> ApiClient:
    config: dict[str, Any] = {}
    if api_url is None or token is None:
        config = _config_file()
    url = api_url or config.get("api_url") or DEFAULT_API_URL
    token = token or config.get("token")
    if not token:
        fail("no API token: pass --token, set HOOKGATE_TOKEN, or put token in the CLI config file", 2)
    if not url.startswith(("http://", "https://")):
        fail(f"the API URL must start with http:// or https://, got {url!r}", 2)
    try:
        return ApiClient(url, token)
    except HookgateError as exc:  # httpx is missing
        fail(str(exc), exc.exit_code)


def api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add ``--api-url``/``--token``; the command receives ``client``; `ApiError` becomes exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, api_url: str | None, token: str | None, **kwargs: Any) -> None:
        with _client(api_url, token) as client:
            try:
                func(*args, client=client, **kwargs)
            except ApiError as exc:
                fail(exc.message, 1)
            except HookgateError as exc:
                fail(str(exc), exc.exit_code)

    wrapper = click.option(
        "--token",
        envvar="HOOKGATE_TOKEN",
        show_envvar=True,
        help="API bearer token (default: HOOKGATE_TOKEN, then the CLI config file).",
    )(wrapper)
    return click.option(
        "--api-url",
        envvar="HOOKGATE_API_URL",
        show_envvar=True,
        help=f"Base URL of the hookgate API (default: the CLI config file, then {DEFAULT_API_URL}).",
    )(wrapper)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# -- output helpers ------------------------------------------------------------------------------------


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def fmt_time(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError, OverflowError):
        return str(value)


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return str(value)


def print_table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, show_lines=False)
    for i, name in enumerate(columns):
        table.add_column(name, overflow="fold", no_wrap=i == 0)  # the first column is the id
    for row in rows:
        table.add_row(*row)
    make_console().print(table)


def print_details(title: str, data: dict[str, Any], timestamps: tuple[str, ...] = ()) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, fmt_time(value) if key in timestamps else fmt_value(value))
    make_console().print(table)


def finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


def not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """JSON without Python's extensions: no NaN or Infinity, no number that overflows to infinity (the API
    refuses them, and the HTTP client cannot even send them)."""
    return json.loads(text, parse_constant=not_a_number, parse_float=finite)


def finite_option(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A number option's callback: ``click.FLOAT`` accepts nan and inf, which JSON cannot carry."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a finite number", ctx, param)
    return value


def parse_json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        parsed = loads(value)
    except ValueError as exc:
        fail(f"{option} is not valid JSON: {exc}", 2)
    if not isinstance(parsed, dict):
        fail(f"{option} must be a JSON object", 2)
    return parsed


def parse_headers(raw: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n"):
            fail(f"--header must look like 'Name: value', got {item!r}", 2)
        headers[name] = value.strip()
    return headers


# -- verifying (verify, listen) ------------------------------------------------------------------------

sender_key_option = click.option(
    "--sender-key",
    "sender_key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="jwe: the sender's public key file (PEM, JWK or JWKS) verifying the JWS inside (repeatable).",
)


def token_flags(*, allow_no_exp: bool, allow_unsigned: bool) -> dict[str, bool | None]:
    """The verifier options of --allow-no-exp and --allow-unsigned.

    Only a flag that was given becomes an option (None is "not given"), so a scheme without claims refuses
    --allow-no-exp rather than ignoring it.
    """
    return {
        "require_exp": False if allow_no_exp else None,
        "require_signature": False if allow_unsigned else None,
    }


def read_keys(key_files: tuple[Path, ...]) -> list[bytes]:
    keys = []
    for path in key_files:
        try:
            keys.append(path.read_bytes())
        except OSError as exc:
            fail(f"cannot read key file {path}: {exc.strerror}", 2)
    return keys


def read_text(file: Path) -> str:
    """A UTF-8 text file named on the command line (exit 2 if it cannot be read)."""
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text", 2)
