"""An application's event types over the management API: ``hookgate event-types create|list``."""

from __future__ import annotations

import click

from hookgate.cli._common import (
    api_command,
    fmt_time,
    fmt_value,
    json_option,
    print_json,
    print_table,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["event_types"]


@click.group("event-types")
def event_types() -> None:
    """Event types of an application: create, list."""


@event_types.command("create")
@click.argument("app")
@click.argument("name")
@click.option("--description", default="", help="What the event means.")
@json_option
@api_command
def event_types_create(app: str, name: str, description: str, as_json: bool, client: ApiClient) -> None:
    """Create (or update) an event type."""
    saved = client.put(path("applications", app, "event-types"), {"name": name, "description": description})
    if as_json:
        print_json(saved)
    else:
        click.echo(f"event type {saved['name']} saved")


@event_types.command("list")
@click.argument("app")
@json_option
@api_command
def event_types_list(app: str, as_json: bool, client: ApiClient) -> None:
    """List an application's event types."""
    items = client.get(path("applications", app, "event-types"))
    if as_json:
        print_json(items)
        return
    print_table(
        f"event types of {app}",
        ["name", "description", "archived", "created"],
        [
            [e["name"], e["description"] or "-", fmt_value(e["archived"]), fmt_time(e["created_at"])]
            for e in items
        ],
    )
