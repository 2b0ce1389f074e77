"""Inbound sources over the management API (admin token): ``hookgate sources ...``; never prints a secret."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from hookgate.cli._common import (
    api_command,
    fail,
    finite,
    fmt_time,
    fmt_value,
    json_option,
    loads,
    print_details,
    print_json,
    print_table,
    read_text,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["sources"]


SOURCE_TIMES = ("created_at", "updated_at")
_SECRET_FIELDS = ("secrets", "keys", "forward_secret")


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """Drop any secret field (the API never returns one; this keeps the CLI from ever printing one)."""
    return {k: v for k, v in data.items() if k not in _SECRET_FIELDS}


def _read_source_file(file: Path, name: str | None) -> dict[str, Any]:
    """A source's fields from a JSON or TOML file (by suffix; otherwise JSON, then TOML)."""
    text = read_text(file)
    suffix = file.suffix.lower()
    data: Any = None
    if suffix != ".toml":
        try:
            data = loads(text)
        except ValueError as exc:
            if suffix == ".json":
                fail(f"{file} is not valid JSON: {exc}", 2)
    if data is None:
        try:
            data = tomllib.loads(text, parse_float=finite)
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            kind = "TOML" if suffix == ".toml" else "JSON or TOML"
            fail(f"{file} is not valid {kind}: {exc}", 2)
    if not isinstance(data, dict):
        fail(f"{file} must hold a JSON object or TOML keys", 2)
    if name is not None:
        data["name"] = name
    return data


def _source_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            s["id"],
            s["name"],
            s["scheme"],
            fmt_value(s.get("path")),
            fmt_value(s.get("forward_to")),
            fmt_time(s.get("updated_at")),
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
@json_option
@api_command
def sources_create(file: Path, name: str | None, as_json: bool, client: ApiClient) -> None:
    """Create an inbound source from a file; its secrets are stored sealed and never shown."""
    body = _read_source_file(file, name)
    if not body.get("name"):
        fail(f"the source needs a name: a name key in {file} or --name", 2)
    created = _public(client.post(path("sources"), body))
    if as_json:
        print_json(created)
    else:
        click.echo(
            f"created source {created['id']} ({created['name']}): "
            f"{fmt_value(created.get('path'))} -> {fmt_value(created.get('forward_to'))}"
        )


@sources.command("list")
@json_option
@api_command
def sources_list(as_json: bool, client: ApiClient) -> None:
    """List the inbound sources."""
    items = [_public(s) for s in client.get(path("sources"))]
    if as_json:
        print_json(items)
        return
    print_table("sources", ["id", "name", "scheme", "path", "forward to", "updated"], _source_rows(items))


@sources.command("show")
@click.argument("source_id")
@json_option
@api_command
def sources_show(source_id: str, as_json: bool, client: ApiClient) -> None:
    """Show one inbound source (its secrets are never shown)."""
    found = _public(client.get(path("sources", source_id)))
    if as_json:
        print_json(found)
    else:
        print_details(f"source {found['id']}", found, SOURCE_TIMES)


@sources.command("update")
@click.argument("source_id")
@_source_file_option
@click.option("--name", help="The source's name (default: the file's name key, then the current name).")
@json_option
@api_command
def sources_update(source_id: str, file: Path, name: str | None, as_json: bool, client: ApiClient) -> None:
    """Replace an inbound source's settings with the file's (secrets included: the file holds them all)."""
    body = _read_source_file(file, name)
    if not body.get("name"):
        body["name"] = client.get(path("sources", source_id))["name"]
    updated = _public(client.put(path("sources", source_id), body))
    if as_json:
        print_json(updated)
    else:
        click.echo(f"updated source {updated['id']} ({updated['name']})")


@sources.command("delete")
@click.argument("source_id")
@json_option
@api_command
def sources_delete(source_id: str, as_json: bool, client: ApiClient) -> None:
    """Delete an inbound source (its path stops accepting webhooks)."""
    client.delete(path("sources", source_id))
    if as_json:
        print_json({"id": source_id, "deleted": True})
    else:
        click.echo(f"deleted source {source_id}")
