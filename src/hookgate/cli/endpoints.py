"""An application's endpoints over the management API: ``hookgate endpoints ...`` (create, update, list,
show, rotate-secret, enable, disable, health).
"""

from __future__ import annotations

from typing import Any

import click

from hookgate.cli._common import (
    api_command,
    finite_option,
    fmt_time,
    fmt_value,
    json_option,
    parse_headers,
    parse_json_option,
    print_details,
    print_json,
    print_table,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["endpoints"]


ENDPOINT_TIMES = ("created_at", "updated_at", "failing_since")


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
@json_option
@api_command
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
        body["headers"] = parse_headers(raw_headers)
    for key, raw, option in (
        ("auth", auth_json, "--auth-json"),
        ("payload", payload_json, "--payload-json"),
        ("tls", tls_json, "--tls-json"),
    ):
        parsed = parse_json_option(raw, option)
        if parsed is not None:
            body[key] = parsed
    created = client.post(path("applications", app, "endpoints"), body)
    if as_json:
        print_json(created)
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
            fmt_value(e["event_types"]) if e["event_types"] else "*",
            e["scheme"],
            "enabled" if e["enabled"] else f"disabled ({e.get('disabled_reason') or '-'})",
            fmt_time(e.get("failing_since")),
        ]
        for e in items
    ]


@endpoints.command("update")
@click.argument("app")
@click.argument("endpoint")
@click.option("--url", help="A new URL.")
@click.option("--event-type", "event_types", multiple=True, help="Replace the subscriptions (repeatable).")
@click.option("--header", "raw_headers", multiple=True, help="Replace the extra headers 'Name: value'.")
@click.option("--timeout-s", type=float, callback=finite_option, help="Request timeout in seconds.")
@click.option(
    "--rate-limit",
    "rate_limit",
    type=float,
    callback=finite_option,
    help="Requests per second (0: no limit).",
)
@click.option("--allow-insecure/--no-allow-insecure", default=None, help="Allow an http:// URL.")
@click.option("--auth-json", help="Replace the auth section (JSON).")
@click.option("--payload-json", help="Replace the payload section (JSON).")
@click.option("--tls-json", help="Replace the TLS section (JSON).")
@json_option
@api_command
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
        body["headers"] = parse_headers(raw_headers)
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
        parsed = parse_json_option(raw, option)
        if parsed is not None:
            body[key] = parsed
    if not body:
        raise click.UsageError("nothing to update: give at least one option")
    updated = client.patch(path("applications", app, "endpoints", endpoint), body)
    if as_json:
        print_json(updated)
        return
    click.echo(f"updated endpoint {updated['id']} -> {updated['url']}")


@endpoints.command("list")
@click.argument("app")
@json_option
@api_command
def endpoints_list(app: str, as_json: bool, client: ApiClient) -> None:
    """List an application's endpoints."""
    items = client.get(path("applications", app, "endpoints"))
    if as_json:
        print_json(items)
        return
    print_table(
        f"endpoints of {app}",
        ["id", "url", "event types", "scheme", "state", "failing since"],
        _endpoint_rows(items),
    )


@endpoints.command("show")
@click.argument("app")
@click.argument("ep")
@json_option
@api_command
def endpoints_show(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """Show one endpoint (its secret is never shown)."""
    found = client.get(path("applications", app, "endpoints", ep))
    if as_json:
        print_json(found)
    else:
        print_details(f"endpoint {found['id']}", found, ENDPOINT_TIMES)


@endpoints.command("rotate-secret")
@click.argument("app")
@click.argument("ep")
@click.option(
    "--grace-s",
    type=click.FloatRange(min=0),
    callback=finite_option,
    help="Seconds the old secret keeps signing too (default: the API's, 24 hours).",
)
@click.option("--secret", help="The new secret (default: generated).")
@json_option
@api_command
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
        print_json(rotated)
        return
    click.echo(f"rotated the secret of {ep}; the old one stays valid for {rotated['grace_s']:g} s")
    click.echo(f"new signing secret (shown once, store it now): {rotated['secret']}")


@endpoints.command("enable")
@click.argument("app")
@click.argument("ep")
@json_option
@api_command
def endpoints_enable(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """Enable an endpoint (deliveries resume)."""
    found = client.post(path("applications", app, "endpoints", ep, "enable"))
    if as_json:
        print_json(found)
    else:
        click.echo(f"endpoint {found['id']} enabled")


@endpoints.command("disable")
@click.argument("app")
@click.argument("ep")
@click.option("--reason", help="Why (shown in endpoint listings).")
@json_option
@api_command
def endpoints_disable(app: str, ep: str, reason: str | None, as_json: bool, client: ApiClient) -> None:
    """Disable an endpoint (deliveries are held)."""
    body = {"reason": reason} if reason is not None else {}
    found = client.post(path("applications", app, "endpoints", ep, "disable"), body)
    if as_json:
        print_json(found)
    else:
        click.echo(f"endpoint {found['id']} disabled ({found.get('disabled_reason') or '-'})")


@endpoints.command("health")
@click.argument("app")
@click.argument("ep")
@json_option
@api_command
def endpoints_health(app: str, ep: str, as_json: bool, client: ApiClient) -> None:
    """An endpoint's state, circuit and recent success rate."""
    health = client.get(path("applications", app, "endpoints", ep, "health"))
    if as_json:
        print_json(health)
        return
    rate = health.get("recent_success_rate")
    shown = dict(health)
    shown["recent_success_rate"] = "-" if rate is None else f"{rate:.0%}"
    last = shown.pop("last_error", None)
    shown["last_error"] = (
        "-"
        if not last
        else f"{fmt_time(last['started_at'])} {last.get('status_code') or last.get('error_class') or '-'} "
        f"{last['outcome']}"
    )
    print_details(f"health of {ep}", shown, ("failing_since",))


@endpoints.command("delete")
@click.argument("app")
@click.argument("ep")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@api_command
def endpoints_delete(app: str, ep: str, yes: bool, as_json: bool, client: ApiClient) -> None:
    """Delete an endpoint: nothing is delivered to it any more (its waiting deliveries end as dead); its
    messages, deliveries and attempts stay readable."""
    if not yes:
        click.confirm(f"Delete endpoint {ep}? This cannot be undone", abort=True)
    client.delete(path("applications", app, "endpoints", ep))
    if as_json:
        print_json({"id": ep, "deleted": True})
    else:
        click.echo(f"deleted endpoint {ep}")
