"""Applications over the management API: ``hookgate apps create|list|show|update``."""

from __future__ import annotations

from typing import Any

import click

from hookgate.cli._common import (
    api_command,
    fmt_time,
    json_option,
    print_details,
    print_json,
    print_table,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["apps"]


APP_TIMES = ("created_at",)


@click.group("apps")
def apps() -> None:
    """Applications: create, list, show, update."""


@apps.command("create")
@click.argument("name")
@click.option("--id", "app_id", help="The application id (default: generated).")
@json_option
@api_command
def apps_create(name: str, app_id: str | None, as_json: bool, client: ApiClient) -> None:
    """Create an application (needs an admin token)."""
    body: dict[str, Any] = {"name": name}
    if app_id is not None:
        body["id"] = app_id
    created = client.post(path("applications"), body)
    if as_json:
        print_json(created)
    else:
        click.echo(f"created application {created['id']} ({created['name']})")


@apps.command("list")
@json_option
@api_command
def apps_list(as_json: bool, client: ApiClient) -> None:
    """List the applications this token can see."""
    items = list(client.items(path("applications")))
    if as_json:
        print_json(items)
        return
    print_table(
        "applications",
        ["id", "name", "created"],
        [[a["id"], a["name"], fmt_time(a["created_at"])] for a in items],
    )


@apps.command("show")
@click.argument("app")
@json_option
@api_command
def apps_show(app: str, as_json: bool, client: ApiClient) -> None:
    """Show one application."""
    found = client.get(path("applications", app))
    if as_json:
        print_json(found)
    else:
        print_details(f"application {found['id']}", found, APP_TIMES)


@apps.command("update")
@click.argument("app")
@click.option("--name", required=True, help="The new name.")
@json_option
@api_command
def apps_update(app: str, name: str, as_json: bool, client: ApiClient) -> None:
    """Rename an application."""
    updated = client.put(path("applications", app), {"name": name})
    if as_json:
        print_json(updated)
    else:
        click.echo(f"renamed application {updated['id']} to {updated['name']}")
