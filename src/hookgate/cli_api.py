"""The developer commands that talk to a running hookgate's management API (``hookgate serve``).

Configuration, first match wins: ``--api-url`` / ``--token``, then ``HOOKGATE_API_URL`` / ``HOOKGATE_TOKEN``,
then the TOML file ``~/.config/hookgate/cli.toml`` (keys ``api_url`` and ``token``; another path with
``HOOKGATE_CLI_CONFIG``); the URL defaults to http://127.0.0.1:8000. The token is never printed.

Output is a rich table by default; ``--json`` prints the API's JSON for scripts. Exit codes follow the rest
of the CLI: 0 success, 1 the API refused or could not be reached (``hookgate: <message>`` on stderr), 2 a
usage or configuration error (no token, bad JSON or TOML, unreadable file).
"""

# ruff: noqa: PLR0917  (click passes every option as a parameter)
from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, ParamSpec

import click
from rich.console import Console
from rich.json import JSON
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hookgate.api_client import DEFAULT_API_URL, ApiClient, ApiError, path
from hookgate.errors import HookgateError, VerificationError
from hookgate.schemes import Verifier
from hookgate.schemes import registry as schemes

__all__ = ["register"]

P = ParamSpec("P")

DEFAULT_CONFIG = Path("~/.config/hookgate/cli.toml")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"hookgate: {message}", err=True)
    sys.exit(code)


def _console() -> Console:
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
            _fail(f"config file {file} does not exist (HOOKGATE_CLI_CONFIG)", 2)
        return {}
    except OSError as exc:
        _fail(f"cannot read config file {file}: {exc.strerror}", 2)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        _fail(f"config file {file} is not valid TOML: {exc}", 2)
    for key in ("api_url", "token"):
        if key in data and not isinstance(data[key], str):
            _fail(f"config file {file}: {key} must be a string", 2)
    return data


def _client(api_url: str | None, token: str | None) -> ApiClient:
    config: dict[str, Any] = {}
    if api_url is None or token is None:
        config = _config_file()
    url = api_url or config.get("api_url") or DEFAULT_API_URL
    token = token or config.get("token")
    if not token:
        _fail("no API token: pass --token, set HOOKGATE_TOKEN, or put token in the CLI config file", 2)
    if not url.startswith(("http://", "https://")):
        _fail(f"the API URL must start with http:// or https://, got {url!r}", 2)
    try:
        return ApiClient(url, token)
    except HookgateError as exc:  # httpx is missing
        _fail(str(exc), exc.exit_code)


def _api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add ``--api-url``/``--token``; the command receives ``client``; `ApiError` becomes exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, api_url: str | None, token: str | None, **kwargs: Any) -> None:
        with _client(api_url, token) as client:
            try:
                func(*args, client=client, **kwargs)
            except ApiError as exc:
                _fail(exc.message, 1)
            except HookgateError as exc:
                _fail(str(exc), exc.exit_code)

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


_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# -- output helpers ------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _ts(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _s(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return str(value)


def _table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, show_lines=False)
    for i, name in enumerate(columns):
        table.add_column(name, overflow="fold", no_wrap=i == 0)  # the first column is the id
    for row in rows:
        table.add_row(*row)
    _console().print(table)


def _details(title: str, data: dict[str, Any], timestamps: tuple[str, ...] = ()) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, _ts(value) if key in timestamps else _s(value))
    _console().print(table)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str) -> Any:
    """JSON without Python's extensions: no NaN or Infinity, no number that overflows to infinity (the API
    refuses them, and the HTTP client cannot even send them)."""
    return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)


def _finite_option(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A number option's callback: ``click.FLOAT`` accepts nan and inf, which JSON cannot carry."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a finite number", ctx, param)
    return value


def _parse_json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        parsed = _loads(value)
    except ValueError as exc:
        _fail(f"{option} is not valid JSON: {exc}", 2)
    if not isinstance(parsed, dict):
        _fail(f"{option} must be a JSON object", 2)
    return parsed


def _parse_headers(raw: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n"):
            _fail(f"--header must look like 'Name: value', got {item!r}", 2)
        headers[name] = value.strip()
    return headers


def _parse_since(value: str) -> float:
    try:
        since = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(since):
            _fail(f"--since must be a finite number of Unix seconds, got {value!r}", 2)
        return since
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--since must be ISO 8601 (2024-05-01T12:00:00Z) or Unix seconds, got {value!r}", 2)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a time without an offset is read as UTC
    return parsed.timestamp()


# -- applications --------------------------------------------------------------------------------------


APP_TIMES = ("created_at",)
ENDPOINT_TIMES = ("created_at", "updated_at", "failing_since")


@click.group("apps")
def apps() -> None:
    """Applications: create, list, show, update."""


@apps.command("create")
@click.argument("name")
@click.option("--id", "app_id", help="The application id (default: generated).")
@_json_option
@_api_command
def apps_create(name: str, app_id: str | None, as_json: bool, client: ApiClient) -> None:
    """Create an application (needs an admin token)."""
    body: dict[str, Any] = {"name": name}
    if app_id is not None:
        body["id"] = app_id
    created = client.post(path("applications"), body)
    if as_json:
        _print_json(created)
    else:
        click.echo(f"created application {created['id']} ({created['name']})")


@apps.command("list")
@_json_option
@_api_command
def apps_list(as_json: bool, client: ApiClient) -> None:
    """List the applications this token can see."""
    items = list(_pages(client, path("applications"), {}, follow=True))
    if as_json:
        _print_json(items)
        return
    _table(
        "applications",
        ["id", "name", "created"],
        [[a["id"], a["name"], _ts(a["created_at"])] for a in items],
    )


@apps.command("show")
@click.argument("app")
@_json_option
@_api_command
def apps_show(app: str, as_json: bool, client: ApiClient) -> None:
    """Show one application."""
    found = client.get(path("applications", app))
    if as_json:
        _print_json(found)
    else:
        _details(f"application {found['id']}", found, APP_TIMES)


@apps.command("update")
@click.argument("app")
@click.option("--name", required=True, help="The new name.")
@_json_option
@_api_command
def apps_update(app: str, name: str, as_json: bool, client: ApiClient) -> None:
    """Rename an application."""
    updated = client.put(path("applications", app), {"name": name})
    if as_json:
        _print_json(updated)
    else:
        click.echo(f"renamed application {updated['id']} to {updated['name']}")


# -- endpoints -----------------------------------------------------------------------------------------


@click.group("endpoints")
def endpoints() -> None:
    """Endpoints of an application: create, list, show, update, rotate-secret, enable, disable, health."""


@endpoints.command("create")
@click.argument("app")
@click.argument("url")
@click.option("--event-type", "event_types", multiple=True, help="Subscribe to this event type (repeatable).")
@click.option("--scheme", help="Signing scheme (default: the API's, standard-webhooks).")
@click.option("--secret", help="Signing secret or key (default: generated and printed once).")
@click.option(
    "--header", "raw_headers", multiple=True, help="Extra request header 'Name: value' (repeatable)."
)
@click.option("--allow-insecure", is_flag=True, help="Allow an http:// URL (development only).")
@click.option("--auth-json", help='Outbound auth settings as JSON, e.g. \'{"type": "bearer", ...}\'.')
@click.option("--payload-json", help="Payload format settings as JSON.")
@click.option("--tls-json", help="TLS settings as JSON (client certificate, CA bundle, minimum version).")
@_json_option
@_api_command
def endpoints_create(
    app: str,
    url: str,
    event_types: tuple[str, ...],
    scheme: str | None,
    secret: str | None,
    raw_headers: tuple[str, ...],
    allow_insecure: bool,
    auth_json: str | None,
    payload_json: str | None,
    tls_json: str | None,
    as_json: bool,
    client: ApiClient,
) -> None:
    """Create an endpoint; its signing secret is printed now and never again."""
    body: dict[str, Any] = {"url": url, "event_types": list(event_types), "allow_insecure": allow_insecure}
    if scheme is not None:
        body["scheme"] = scheme
    if secret is not None:
        body["secret"] = secret
    if raw_headers:
        body["headers"] = _parse_headers(raw_headers)
    for key, raw, option in (
        ("auth", auth_json, "--auth-json"),
        ("payload", payload_json, "--payload-json"),
        ("tls", tls_json, "--tls-json"),
    ):
        parsed = _parse_json_option(raw, option)
        if parsed is not None:
            body[key] = parsed
    created = client.post(path("applications", app, "endpoints"), body)
    if as_json:
        _print_json(created)
        return
    endpoint = created["endpoint"]
    click.echo(f"created endpoint {endpoint['id']} -> {endpoint['url']} ({endpoint['scheme']})")
    if created.get("secret"):
        click.echo(f"signing secret (shown once, store it now): {created['secret']}")


def _endpoint_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            e["id"],
            e["url"],
            _s(e["event_types"]) if e["event_types"] else "*",
            e["scheme"],
            "enabled" if e["enabled"] else f"disabled ({e.get('disabled_reason') or '-'})",
            _ts(e.get("failing_since")),
        ]
        for e in items
    ]


@endpoints.command("update")
@click.argument("app")
@click.argument("endpoint")
@click.option("--url", help="A new URL.")
@click.option("--event-type", "event_types", multiple=True, help="Replace the subscriptions (repeatable).")
@click.option("--header", "raw_headers", multiple=True, help="Replace the extra headers 'Name: value'.")
@click.option("--timeout-s", type=float, callback=_finite_option, help="Request timeout in seconds.")
@click.option(
    "--rate-limit",
    "rate_limit",
    type=float,
    callback=_finite_option,
    help="Requests per second (0: no limit).",
)
@click.option("--allow-insecure/--no-allow-insecure", default=None, help="Allow an http:// URL.")
@click.option("--auth-json", help="Replace the auth section (JSON).")
@click.option("--payload-json", help="Replace the payload section (JSON).")
@click.option("--tls-json", help="Replace the TLS section (JSON).")
@_json_option
@_api_command
def endpoints_update(
    app: str,
    endpoint: str,
    url: str | None,
    event_types: tuple[str, ...],
    raw_headers: tuple[str, ...],
    timeout_s: float | None,
    rate_limit: float | None,
    allow_insecure: bool | None,
    auth_json: str | None,
    payload_json: str | None,
    tls_json: str | None,
    as_json: bool,
    client: ApiClient,
) -> None:
    """Change an endpoint's settings; only the options given change."""
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = url
    if event_types:
        body["event_types"] = list(event_types)
    if raw_headers:
        body["headers"] = _parse_headers(raw_headers)
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    if rate_limit is not None:
        body["rate_limit_per_s"] = rate_limit or None
    if allow_insecure is not None:
        body["allow_insecure"] = allow_insecure
    for key, raw, option in (
        ("auth", auth_json, "--auth-json"),
        ("payload", payload_json, "--payload-json"),
        ("tls", tls_json, "--tls-json"),
    ):
        parsed = _parse_json_option(raw, option)
        if parsed is not None:
            body[key] = parsed
    if not body:
        raise click.UsageError("nothing to update: give at least one option")
    updated = client.patch(path("applications", app, "endpoints", endpoint), body)
    if as_json:
        _print_json(updated)
        return
    click.echo(f"updated endpoint {updated['id']} -> {updated['url']}")


@endpoints.command("list")
@click.argument("app")
@_json_option
@_api_command
def endpoints_list(app: str, as_json: bool, client: ApiClient) -> None:
    """List an application's endpoints."""
    items = client.get(path("applications", app, "endpoints"))
    if as_json:
        _print_json(items)
        return
    _table(
        f"endpoints of {app}",
        ["id", "url", "event types", "scheme", "state", "failing since"],
        _endpoint_rows(items),
    )


@endpoints.command("show")
@click.argument("app")
@click.argument("ep")
@_json_option
@_api_command
def endpoints_show(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """Show one endpoint (its secret is never shown)."""
    found = client.get(path("applications", app, "endpoints", ep))
    if as_json:
        _print_json(found)
    else:
        _details(f"endpoint {found['id']}", found, ENDPOINT_TIMES)


@endpoints.command("rotate-secret")
@click.argument("app")
@click.argument("ep")
@click.option(
    "--grace-s",
    type=click.FloatRange(min=0),
    callback=_finite_option,
    help="Seconds the old secret keeps signing too (default: the API's, 24 hours).",
)
@click.option("--secret", help="The new secret (default: generated).")
@_json_option
@_api_command
def endpoints_rotate_secret(
    app: str, ep: str, grace_s: float | None, secret: str | None, as_json: bool, client: ApiClient
) -> None:
    """Rotate an endpoint's signing secret; the new one is printed now and never again."""
    body: dict[str, Any] = {}
    if grace_s is not None:
        body["grace_s"] = grace_s
    if secret is not None:
        body["secret"] = secret
    rotated = client.post(path("applications", app, "endpoints", ep, "rotate-secret"), body)
    if as_json:
        _print_json(rotated)
        return
    click.echo(f"rotated the secret of {ep}; the old one stays valid for {rotated['grace_s']:g} s")
    click.echo(f"new signing secret (shown once, store it now): {rotated['secret']}")


@endpoints.command("enable")
@click.argument("app")
@click.argument("ep")
@_json_option
@_api_command
def endpoints_enable(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """Enable an endpoint (deliveries resume)."""
    found = client.post(path("applications", app, "endpoints", ep, "enable"))
    if as_json:
        _print_json(found)
    else:
        click.echo(f"endpoint {found['id']} enabled")


@endpoints.command("disable")
@click.argument("app")
@click.argument("ep")
@click.option("--reason", help="Why (shown in endpoint listings).")
@_json_option
@_api_command
def endpoints_disable(app: str, ep: str, reason: str | None, as_json: bool, client: ApiClient) -> None:
    """Disable an endpoint (deliveries are held)."""
    body = {"reason": reason} if reason is not None else {}
    found = client.post(path("applications", app, "endpoints", ep, "disable"), body)
    if as_json:
        _print_json(found)
    else:
        click.echo(f"endpoint {found['id']} disabled ({found.get('disabled_reason') or '-'})")


@endpoints.command("health")
@click.argument("app")
@click.argument("ep")
@_json_option
@_api_command
def endpoints_health(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """An endpoint's state, circuit and recent success rate."""
    health = client.get(path("applications", app, "endpoints", ep, "health"))
    if as_json:
        _print_json(health)
        return
    rate = health.get("recent_success_rate")
    shown = dict(health)
    shown["recent_success_rate"] = "-" if rate is None else f"{rate:.0%}"
    last = shown.pop("last_error", None)
    shown["last_error"] = (
        "-"
        if not last
        else f"{_ts(last['started_at'])} {last.get('status_code') or last.get('error_class') or '-'} "
        f"{last['outcome']}"
    )
    _details(f"health of {ep}", shown, ("failing_since",))


# -- event types ---------------------------------------------------------------------------------------


@click.group("event-types")
def event_types() -> None:
    """Event types of an application: create, list."""


@event_types.command("create")
@click.argument("app")
@click.argument("name")
@click.option("--description", default="", help="What the event means.")
@_json_option
@_api_command
def event_types_create(app: str, name: str, description: str, as_json: bool, client: ApiClient) -> None:
    """Create (or update) an event type."""
    saved = client.put(path("applications", app, "event-types"), {"name": name, "description": description})
    if as_json:
        _print_json(saved)
    else:
        click.echo(f"event type {saved['name']} saved")


@event_types.command("list")
@click.argument("app")
@_json_option
@_api_command
def event_types_list(app: str, as_json: bool, client: ApiClient) -> None:
    """List an application's event types."""
    items = client.get(path("applications", app, "event-types"))
    if as_json:
        _print_json(items)
        return
    _table(
        f"event types of {app}",
        ["name", "description", "archived", "created"],
        [[e["name"], e["description"] or "-", _s(e["archived"]), _ts(e["created_at"])] for e in items],
    )


# -- messages, attempts --------------------------------------------------------------------------------


def _read_data(data: str) -> Any:
    if data.startswith("@"):
        file = Path(data[1:])
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror}", 2)
        except UnicodeDecodeError:
            _fail(f"{file} is not UTF-8 text", 2)
        origin = str(file)
    else:
        text, origin = data, "--data"
    try:
        payload = _loads(text)
    except ValueError as exc:
        _fail(f"{origin} is not valid JSON: {exc}", 2)
    if not isinstance(payload, dict | list):
        _fail(f"{origin} must be a JSON object or array", 2)
    return payload


@click.command("send")
@click.argument("app")
@click.argument("event_type")
@click.option("--data", required=True, help="The payload: JSON text, or @file.json.")
@click.option("--idempotency-key", help="Publishing again with the same key returns the first message.")
@_json_option
@_api_command
def send(
    app: str, event_type: str, data: str, idempotency_key: str | None, as_json: bool, client: ApiClient
) -> None:
    """Publish a message: one delivery per subscribed endpoint."""
    payload = _read_data(data)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    result = client.post(
        path("applications", app, "messages"), {"event_type": event_type, "payload": payload}, headers=headers
    )
    if as_json:
        _print_json(result)
        return
    count = len(result["deliveries"])
    note = " (duplicate: already published with this idempotency key)" if result["duplicate"] else ""
    click.echo(
        f"message {result['message']['id']}: {count} {'delivery' if count == 1 else 'deliveries'}{note}"
    )


def _pages(
    client: ApiClient, url: str, params: dict[str, str | int | float], *, follow: bool
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        page = client.get(url, params=query)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not follow or cursor is None:
            return


@click.group("messages")
def messages() -> None:
    """Published messages: list, show."""


@messages.command("list")
@click.argument("app")
@click.option("--event-type", help="Only this event type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Page size.")
@click.option("--all", "follow", is_flag=True, help="Follow next_cursor to the end.")
@_json_option
@_api_command
def messages_list(
    app: str, event_type: str | None, limit: int, follow: bool, as_json: bool, client: ApiClient
) -> None:
    """List messages, newest first (one page unless --all)."""
    params: dict[str, str | int | float] = {"limit": limit}
    if event_type:
        params["event_type"] = event_type
    url = path("applications", app, "messages")
    if follow:
        items = list(_pages(client, url, params, follow=True))
        next_cursor = None
    else:
        page = client.get(url, params=params)
        items, next_cursor = page["items"], page.get("next_cursor")
    if as_json:
        _print_json({"items": items, "next_cursor": next_cursor})
        return
    _table(
        f"messages of {app}",
        ["id", "event type", "created", "idempotency key"],
        [[m["id"], m["event_type"], _ts(m["created_at"]), m.get("idempotency_key") or "-"] for m in items],
    )
    if next_cursor:
        click.echo("more messages: use --all")


@messages.command("show")
@click.argument("app")
@click.argument("msg")
@_json_option
@_api_command
def messages_show(app: str, msg: str, as_json: bool, client: ApiClient) -> None:
    """Show one message and its payload."""
    found = client.get(path("applications", app, "messages", msg))
    if as_json:
        _print_json(found)
        return
    shown = {k: v for k, v in found.items() if k != "payload"}
    _details(f"message {found['id']}", shown, ("created_at",))
    console = _console()
    console.print(JSON.from_data(found["payload"]))


def _attempt_row(a: dict[str, Any], endpoint_id: str | None = None) -> list[str]:
    row = [
        _s(a.get("id")),
        a["delivery_id"],
        _ts(a["started_at"]),
        _s(a.get("status_code")),
        a["outcome"],
        f"{a['duration_ms']:.0f} ms",
        a.get("error_class") or "-",
    ]
    if endpoint_id is not None:
        row.insert(2, endpoint_id)
    return row


def _message_attempts(client: ApiClient, app: str, message_id: str) -> list[dict[str, Any]]:
    """Each of the message's deliveries with its attempts, oldest first: the pre-AttemptPage shape."""
    deliveries = client.get(path("applications", app, "messages", message_id, "deliveries"))
    url = path("applications", app, "messages", message_id, "attempts")
    by_delivery: dict[str, list[dict[str, Any]]] = {d["id"]: [] for d in deliveries}
    for a in _pages(client, url, {"limit": 1000}, follow=True):
        by_delivery.setdefault(a["delivery_id"], []).append(a)
    for found in by_delivery.values():
        found.sort(key=lambda a: (a["started_at"], a.get("id") or 0))
    return [{"delivery": d, "attempts": by_delivery[d["id"]]} for d in deliveries]


ATTEMPT_COLUMNS = ["attempt", "delivery", "started", "status", "outcome", "duration", "error"]


@click.group("attempts")
def attempts() -> None:
    """Delivery attempts of a message or of an endpoint."""


@attempts.command("list")
@click.argument("app")
@click.option("--message", "message_id", help="The attempts of this message's deliveries.")
@click.option("--endpoint", "endpoint_id", help="The attempts made to this endpoint (newest first).")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="--endpoint: page size."
)
@_json_option
@_api_command
def attempts_list(
    app: str,
    message_id: str | None,
    endpoint_id: str | None,
    limit: int,
    as_json: bool,
    client: ApiClient,
) -> None:
    """List attempts: pass exactly one of --message or --endpoint."""
    if (message_id is None) == (endpoint_id is None):
        _fail("pass exactly one of --message or --endpoint", 2)
    if message_id is not None:
        deliveries = _message_attempts(client, app, message_id)
        if as_json:
            _print_json(deliveries)
            return
        rows = []
        for entry in deliveries:
            d = entry["delivery"]
            if not entry["attempts"]:
                rows.append(["-", d["id"], d["endpoint_id"], "-", "-", d["status"], "-", "-"])
            rows.extend(_attempt_row(a, d["endpoint_id"]) for a in entry["attempts"])
        columns = list(ATTEMPT_COLUMNS)
        columns.insert(2, "endpoint")
        _table(f"attempts of message {message_id}", columns, rows)
        for entry in deliveries:
            d = entry["delivery"]
            click.echo(
                f"delivery {d['id']} -> {d['endpoint_id']}: {d['status']} after {d['attempts']} attempt(s)"
            )
        return
    if endpoint_id is None:  # unreachable: checked above
        return
    page = client.get(
        path("applications", app, "endpoints", endpoint_id, "attempts"), params={"limit": limit}
    )
    if as_json:
        _print_json(page)
        return
    _table(f"attempts to endpoint {endpoint_id}", ATTEMPT_COLUMNS, [_attempt_row(a) for a in page["items"]])


RESEND_STATUSES = ("dead", "failed")


@click.command("resend")
@click.argument("app")
@click.argument("delivery_id", required=False)
@click.option("--endpoint", "endpoint_id", help="Resend this endpoint's deliveries in --status (bulk form).")
@click.option(
    "--status",
    type=click.Choice(RESEND_STATUSES),
    help="--endpoint: which deliveries to resend (default: dead).",
)
@click.option("--limit", type=click.IntRange(1, 1000), help="--endpoint: page size (default: 100).")
@click.option("--all", "follow", is_flag=True, help="--endpoint: follow next_cursor to the end.")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="--endpoint: do not ask for confirmation.")
@_json_option
@_api_command
def resend(
    app: str,
    delivery_id: str | None,
    endpoint_id: str | None,
    status: str | None,
    limit: int | None,
    follow: bool,
    assume_yes: bool,
    as_json: bool,
    client: ApiClient,
) -> None:
    """Deliver one delivery again now, or (--endpoint) every dead or failed delivery of an endpoint.

    \b
    hookgate resend APP DELIVERY_ID
    hookgate resend APP --endpoint EP [--status dead|failed] [--all] [--yes]
    """
    if (delivery_id is None) == (endpoint_id is None):
        _fail("pass exactly one of DELIVERY_ID or --endpoint", 2)
    if delivery_id is not None:
        if status is not None or limit is not None or follow:
            _fail("--status, --limit and --all go with --endpoint", 2)
        _resend_one(client, app, delivery_id, as_json)
        return
    if endpoint_id is None:  # unreachable: checked above
        return
    status = status or "dead"
    err = Console(stderr=True, highlight=False)
    ids, more = _collect_deliveries(client, err, app, endpoint_id, status, limit or 100, follow)
    if not ids:
        if as_json:
            _print_json({"resent": 0, "ids": []})
        else:
            click.echo(f"no {status} deliveries to {endpoint_id}")
        return
    if more:
        click.echo(f"hookgate: only the first {_n(len(ids), status)}; use --all for every page", err=True)
    if not assume_yes and not click.confirm(
        f"resend {_n(len(ids), status)} to {endpoint_id}?", default=False, err=True
    ):
        _fail("nothing resent", 1)
    resent, failed = _resend_each(client, err, app, ids)
    _report_bulk(endpoint_id, resent, failed, as_json)


def _report_bulk(endpoint_id: str, resent: list[str], failed: list[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        out: dict[str, Any] = {"resent": len(resent), "ids": resent}
        if failed:
            out["failed"] = [{"id": i, "error": e} for i, e in failed]
        _print_json(out)
    else:
        click.echo(f"resent {_n(len(resent))} to {endpoint_id}")
    for failed_id, error in failed:
        click.echo(f"hookgate: cannot resend {failed_id}: {error}", err=True)
    if failed:
        sys.exit(1)


def _resend_one(client: ApiClient, app: str, delivery_id: str, as_json: bool) -> None:
    delivery = client.post(path("applications", app, "deliveries", delivery_id, "resend"))
    if as_json:
        _print_json(delivery)
    else:
        click.echo(f"delivery {delivery['id']} queued again ({delivery['status']})")


def _n(count: int, status: str = "") -> str:
    return f"{count} {status}{' ' if status else ''}{'delivery' if count == 1 else 'deliveries'}"


def _collect_deliveries(
    client: ApiClient, err: Console, app: str, endpoint_id: str, status: str, limit: int, follow: bool
) -> tuple[list[str], bool]:
    """The ids of the endpoint's deliveries in ``status`` (every page with ``follow``); whether more remain.

    Collected before any resend: resending changes a delivery's status, which would shift the pages.
    """
    url = path("applications", app, "endpoints", endpoint_id, "deliveries")
    ids: list[str] = []
    with err.status(f"finding {status} deliveries to {endpoint_id} ...") as spinner:
        for page in client.pages(url, {"status": status, "limit": limit}):
            ids.extend(d["id"] for d in page["items"])
            spinner.update(f"finding {status} deliveries to {endpoint_id} ... {len(ids)} so far")
            if not follow:
                return ids, page.get("next_cursor") is not None
    return ids, False


def _resend_each(
    client: ApiClient, err: Console, app: str, ids: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Resend each delivery with a progress bar on stderr (terminal only); the resent ids and the refusals."""
    resent: list[str] = []
    failed: list[tuple[str, str]] = []
    progress = Progress(
        TextColumn("resending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("resend", total=len(ids))
        for delivery_id in ids:
            try:
                client.post(path("applications", app, "deliveries", delivery_id, "resend"))
            except ApiError as exc:
                if exc.code == "network":  # the API is gone: the rest would fail the same way
                    raise
                failed.append((delivery_id, exc.message))
            else:
                resent.append(delivery_id)
            progress.advance(task)
    return resent, failed


@click.command("recover")
@click.argument("app")
@click.argument("ep")
@click.option("--since", required=True, help="ISO 8601 time (UTC if no offset) or Unix seconds.")
@_json_option
@_api_command
def recover(app: str, ep: str, since: str, as_json: bool, client: ApiClient) -> None:
    """Re-queue an endpoint's failed deliveries created since a time."""
    when = _parse_since(since)
    url = path("applications", app, "endpoints", ep, "recover")
    if as_json:
        _print_json(client.post(url, {"since": when}))
        return
    console = Console(stderr=True)
    with console.status(f"recovering deliveries to {ep} since {_ts(when)} ..."):
        result = client.post(url, {"since": when})
    click.echo(f"recovered {result['recovered']} deliveries to {ep}")


# -- tail ----------------------------------------------------------------------------------------------


def _attempt_key(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a.get("id"), a["delivery_id"], a["started_at"])


@click.command("tail")
@click.argument("app")
@click.option("--endpoint", "endpoint_id", help="Only this endpoint (default: every endpoint of APP).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    callback=_finite_option,
    default=2.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option(
    "--lines",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Recent attempts to show first.",
)
@click.option("--max-polls", type=click.IntRange(min=1), hidden=True)
@_json_option
@_api_command
def tail(
    app: str,
    endpoint_id: str | None,
    interval: float,
    lines: int,
    max_polls: int | None,
    as_json: bool,
    client: ApiClient,
) -> None:
    """Print delivery attempts as they happen, until Ctrl-C (--json: one JSON object per line).

    While the API cannot answer (the server or its database restarting: 503, or no connection) it keeps
    polling, with one note on stderr, instead of exiting.
    """
    seen: set[tuple[Any, ...]] = set()
    polls = 0
    first = True
    waiting = False
    try:
        while True:
            try:
                fresh = _new_attempts(client, app, endpoint_id, seen)
            except ApiError as exc:
                if exc.status != 503 and exc.code != "network":
                    raise
                if not waiting:
                    click.echo(f"hookgate tail: {exc.message}; still polling", err=True)
                waiting = True
            else:
                if waiting:
                    click.echo("hookgate tail: the API answers again", err=True)
                waiting = False
                seen.update(_attempt_key(a) for _, a in fresh)
                if first:
                    fresh = fresh[-lines:] if lines else []
                    first = False
                for ep, a in fresh:
                    _print_attempt(ep, a, as_json)
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _new_attempts(
    client: ApiClient, app: str, endpoint_id: str | None, seen: set[tuple[Any, ...]]
) -> list[tuple[str, dict[str, Any]]]:
    """The attempts not in ``seen``, oldest first, each with its endpoint id (all or nothing: a failed
    request raises before anything counts as seen)."""
    endpoint_ids = (
        [endpoint_id]
        if endpoint_id is not None
        else [e["id"] for e in client.get(path("applications", app, "endpoints"))]
    )
    fresh: list[tuple[str, dict[str, Any]]] = []
    keys: set[tuple[Any, ...]] = set()
    for ep in endpoint_ids:
        page = client.get(path("applications", app, "endpoints", ep, "attempts"), params={"limit": 100})
        for a in page["items"]:
            key = _attempt_key(a)
            if key not in seen and key not in keys:
                keys.add(key)
                fresh.append((ep, a))
    fresh.sort(key=lambda item: (item[1]["started_at"], item[1].get("id") or 0))
    return fresh


def _print_attempt(endpoint_id: str, a: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"endpoint_id": endpoint_id, **a}))
        return
    ok = a.get("status_code") is not None and 200 <= a["status_code"] < 300
    style = "green" if ok else "red"
    status = a.get("status_code") or a.get("error_class") or "-"
    excerpt = (a.get("response_excerpt") or "").replace("\n", " ")[:80]
    _console().print(
        f"{_ts(a['started_at'])} [bold]{endpoint_id}[/bold] {a['delivery_id']} "
        f"[{style}]{status} {a['outcome']}[/{style}] {a['duration_ms']:.0f} ms"
        + (f"  {excerpt}" if excerpt else ""),
        markup=True,
        highlight=False,
    )


# -- listen --------------------------------------------------------------------------------------------


@click.command("listen")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--scheme", required=True, type=click.Choice(schemes.SCHEME_NAMES), help="How senders sign.")
@click.option("--secret", "secrets", multiple=True, help="A shared secret (repeatable: any of them).")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A key file, PEM or JWK (repeatable).",
)
@click.option(
    "--sender-key",
    "sender_key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="jwe: the sender's public key file (PEM, JWK or JWKS) verifying the JWS inside (repeatable).",
)
@click.option("--allow-unsigned", is_flag=True, help="jwe: accept JWEs without an inner JWS.")
@click.option(
    "--allow-no-exp", is_flag=True, help="jwt-hs256/jws/jwe: accept tokens without exp (hookgate's JWS)."
)
@click.option("--max-requests", type=click.IntRange(min=1), hidden=True)
def listen(
    port: int,
    host: str,
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    sender_key_files: tuple[Path, ...],
    allow_unsigned: bool,
    allow_no_exp: bool,
    max_requests: int | None,
) -> None:
    """A local webhook receiver: verify each POST and print it, until Ctrl-C (200 verified, 401 refused)."""
    keys: list[bytes] = []
    sender_keys: list[bytes] = []
    for files, into in ((key_files, keys), (sender_key_files, sender_keys)):
        for file in files:
            try:
                into.append(file.read_bytes())
            except OSError as exc:
                _fail(f"cannot read key file {file}: {exc.strerror}", 2)
    # only a flag that was given becomes an option (None is "not given"), as in `hookgate verify`
    options = {
        "require_exp": False if allow_no_exp else None,
        "require_signature": False if allow_unsigned else None,
    }
    try:
        verifier = schemes.build_verifier(scheme, secrets, keys, options=options, sender_keys=sender_keys)
    except HookgateError as exc:
        _fail(str(exc), 2)
    try:
        asyncio.run(_listen(verifier, host, port, max_requests))
    except KeyboardInterrupt:
        return
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


async def _listen(verifier: Verifier, host: str, port: int, max_requests: int | None) -> None:
    from aiohttp import web

    console = _console()
    done = asyncio.Event()
    handled = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal handled
        body = await request.read()
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        try:
            verified = verifier.verify(body, request.headers, now=time.time())
        except VerificationError as exc:
            console.print(
                f"{stamp} [red]refused[/red] POST {request.path_qs} from {request.remote}: "
                f"{exc.reason} ({exc})",
                highlight=False,
            )
            response = web.json_response({"error": "unauthorized"}, status=401)
        else:
            details = " ".join(
                f"{k}={v}"
                for k, v in (("msg_id", verified.msg_id), ("key", verified.key_id))
                if v is not None
            )
            console.print(
                f"{stamp} [green]verified[/green] POST {request.path_qs} {details}".rstrip(), highlight=False
            )
            try:
                console.print(JSON(verified.payload.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                console.print(repr(verified.payload[:2000]), markup=False, highlight=False)
            response = web.json_response({"status": "ok"})
        handled += 1
        if max_requests is not None and handled >= max_requests:
            done.set()
        return response

    async def other(request: web.Request) -> web.Response:
        return web.json_response({"error": "method not allowed"}, status=405, headers={"Allow": "POST"})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", receive)
    app.router.add_route("*", "/{tail:.*}", other)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        console.print(f"listening on http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
        await done.wait()
        await asyncio.sleep(0.05)  # let the last answer reach its sender before the listener closes
    finally:
        await runner.cleanup()


# -- inbound sources (admin) ---------------------------------------------------------------------------


SOURCE_TIMES = ("created_at", "updated_at")
_SECRET_FIELDS = ("secrets", "keys", "forward_secret")


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """Drop any secret field (the API never returns one; this keeps the CLI from ever printing one)."""
    return {k: v for k, v in data.items() if k not in _SECRET_FIELDS}


def _read_source_file(file: Path, name: str | None) -> dict[str, Any]:
    """A source's fields from a JSON or TOML file (by suffix; otherwise JSON, then TOML)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}", 2)
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text", 2)
    suffix = file.suffix.lower()
    data: Any = None
    if suffix != ".toml":
        try:
            data = _loads(text)
        except ValueError as exc:
            if suffix == ".json":
                _fail(f"{file} is not valid JSON: {exc}", 2)
    if data is None:
        try:
            data = tomllib.loads(text, parse_float=_finite)
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            kind = "TOML" if suffix == ".toml" else "JSON or TOML"
            _fail(f"{file} is not valid {kind}: {exc}", 2)
    if not isinstance(data, dict):
        _fail(f"{file} must hold a JSON object or TOML keys", 2)
    if name is not None:
        data["name"] = name
    return data


def _source_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            s["id"],
            s["name"],
            s["scheme"],
            _s(s.get("path")),
            _s(s.get("forward_to")),
            _ts(s.get("updated_at")),
        ]
        for s in items
    ]


@click.group("sources")
def sources() -> None:
    """Inbound sources (admin token): create, list, show, update, delete."""


_source_file_option = click.option(
    "--file",
    "file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The source's fields: a JSON object or TOML top-level keys (name, scheme, secrets, path, ...).",
)


@sources.command("create")
@_source_file_option
@click.option("--name", help="The source's name (default: the file's name key).")
@_json_option
@_api_command
def sources_create(file: Path, name: str | None, as_json: bool, client: ApiClient) -> None:
    """Create an inbound source from a file; its secrets are stored sealed and never shown."""
    body = _read_source_file(file, name)
    if not body.get("name"):
        _fail(f"the source needs a name: a name key in {file} or --name", 2)
    created = _public(client.post(path("sources"), body))
    if as_json:
        _print_json(created)
    else:
        click.echo(
            f"created source {created['id']} ({created['name']}): "
            f"{_s(created.get('path'))} -> {_s(created.get('forward_to'))}"
        )


@sources.command("list")
@_json_option
@_api_command
def sources_list(as_json: bool, client: ApiClient) -> None:
    """List the inbound sources."""
    items = [_public(s) for s in client.get(path("sources"))]
    if as_json:
        _print_json(items)
        return
    _table("sources", ["id", "name", "scheme", "path", "forward to", "updated"], _source_rows(items))


@sources.command("show")
@click.argument("source_id")
@_json_option
@_api_command
def sources_show(source_id: str, as_json: bool, client: ApiClient) -> None:
    """Show one inbound source (its secrets are never shown)."""
    found = _public(client.get(path("sources", source_id)))
    if as_json:
        _print_json(found)
    else:
        _details(f"source {found['id']}", found, SOURCE_TIMES)


@sources.command("update")
@click.argument("source_id")
@_source_file_option
@click.option("--name", help="The source's name (default: the file's name key, then the current name).")
@_json_option
@_api_command
def sources_update(source_id: str, file: Path, name: str | None, as_json: bool, client: ApiClient) -> None:
    """Replace an inbound source's settings with the file's (secrets included: the file holds them all)."""
    body = _read_source_file(file, name)
    if not body.get("name"):
        body["name"] = client.get(path("sources", source_id))["name"]
    updated = _public(client.put(path("sources", source_id), body))
    if as_json:
        _print_json(updated)
    else:
        click.echo(f"updated source {updated['id']} ({updated['name']})")


@sources.command("delete")
@click.argument("source_id")
@_json_option
@_api_command
def sources_delete(source_id: str, as_json: bool, client: ApiClient) -> None:
    """Delete an inbound source (its path stops accepting webhooks)."""
    client.delete(path("sources", source_id))
    if as_json:
        _print_json({"id": source_id, "deleted": True})
    else:
        click.echo(f"deleted source {source_id}")


# -- API tokens (admin) --------------------------------------------------------------------------------


TOKEN_TIMES = ("created_at", "revoked_at")


@click.group("tokens")
def tokens() -> None:
    """API tokens (admin token): create, list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", required=True, help="'admin', or the id of the one application the token may use.")
@_json_option
@_api_command
def tokens_create(name: str, scope: str, as_json: bool, client: ApiClient) -> None:
    """Create an API token; the token is printed now and never again."""
    created = client.post(path("tokens"), {"name": name, "scope": scope})
    if as_json:
        _print_json(created)
        return
    token = created["token"]
    click.echo(f"created token {token['id']} ({token['name']}, scope {token['scope']})")
    click.echo(f"token (shown once, store it now): {created['secret']}")


@tokens.command("list")
@_json_option
@_api_command
def tokens_list(as_json: bool, client: ApiClient) -> None:
    """List the API tokens (never the tokens themselves)."""
    items = client.get(path("tokens"))
    if as_json:
        _print_json(items)
        return
    _table(
        "API tokens",
        ["id", "name", "scope", "created", "revoked"],
        [[t["id"], t["name"], t["scope"], _ts(t["created_at"]), _ts(t.get("revoked_at"))] for t in items],
    )


@tokens.command("revoke")
@click.argument("token_id")
@_json_option
@_api_command
def tokens_revoke(token_id: str, as_json: bool, client: ApiClient) -> None:
    """Revoke an API token: it stops working at once."""
    revoked = client.post(path("tokens", token_id, "revoke"))
    if as_json:
        _print_json(revoked)
    else:
        click.echo(f"token {revoked['id']} revoked")


# -- registration --------------------------------------------------------------------------------------


def register(main: click.Group) -> None:
    """Add the API commands (and ``listen``) to the main CLI group."""
    for command in (
        apps,
        endpoints,
        event_types,
        messages,
        attempts,
        send,
        resend,
        recover,
        tail,
        listen,
        sources,
        tokens,
    ):
        main.add_command(command)
