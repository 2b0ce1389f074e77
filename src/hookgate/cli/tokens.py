"""API tokens over the management API (admin token): ``hookgate tokens create|list|revoke``."""

from __future__ import annotations

import click

from hookgate.cli._common import (
    api_command,
    fmt_time,
    json_option,
    print_json,
    print_table,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["tokens"]


TOKEN_TIMES = ("created_at", "revoked_at")


@click.group("tokens")
def tokens() -> None:
    """API tokens (admin token): create, list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", required=True, help="'admin', or the id of the one application the token may use.")
@json_option
@api_command
def tokens_create(name: str, scope: str, as_json: bool, client: ApiClient) -> None:
    """Create an API token; the token is printed now and never again."""
    created = client.post(path("tokens"), {"name": name, "scope": scope})
    if as_json:
        print_json(created)
        return
    token = created["token"]
    click.echo(f"created token {token['id']} ({token['name']}, scope {token['scope']})")
    click.echo(f"token (shown once, store it now): {created['secret']}")


@tokens.command("list")
@json_option
@api_command
def tokens_list(as_json: bool, client: ApiClient) -> None:
    """List the API tokens (never the tokens themselves)."""
    items = client.get(path("tokens"))
    if as_json:
        print_json(items)
        return
    print_table(
        "API tokens",
        ["id", "name", "scope", "created", "revoked"],
        [
            [t["id"], t["name"], t["scope"], fmt_time(t["created_at"]), fmt_time(t.get("revoked_at"))]
            for t in items
        ],
    )


@tokens.command("revoke")
@click.argument("token_id")
@json_option
@api_command
def tokens_revoke(token_id: str, as_json: bool, client: ApiClient) -> None:
    """Revoke an API token: it stops working at once."""
    revoked = client.post(path("tokens", token_id, "revoke"))
    if as_json:
        print_json(revoked)
    else:
        click.echo(f"token {revoked['id']} revoked")
