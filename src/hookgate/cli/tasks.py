"""Bulk recovery tasks over the management API: ``hookgate tasks create|list|show|cancel`` (a dry run counts,
``--wait`` follows the progress until the workers finish the task)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import click

from hookgate.cli._common import api_command, fmt_time, json_option, print_details, print_json, print_table
from hookgate.cli.api_client import ApiClient, path

__all__ = ["tasks"]

TASK_TIMES = ("created_at", "updated_at")
_FINISHED = ("done", "cancelled", "failed")
_WAIT_POLL_S = 0.5


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A time option: Unix seconds or ISO 8601 (UTC when no offset is given)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither Unix seconds nor ISO 8601", ctx, param) from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise click.BadParameter(f"{value!r} is not a finite number", ctx, param)
    return seconds


def _progress(task: dict[str, Any]) -> str:
    return f"{task['id']}: {task['state']}, {task['done']} of {task['matched']} done"


@click.group("tasks")
def tasks() -> None:
    """Bulk recovery tasks: resend, replay what an endpoint missed, cancel pending deliveries."""


@tasks.command("create")
@click.argument("app")
@click.argument("kind", type=click.Choice(["resend", "replay_missing", "cancel_pending"]))
@click.option("--endpoint", "endpoint_id", help="Only this endpoint (required for replay_missing).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["dead", "failed", "delivered"]),
    help="resend: delivery status (repeatable; default dead and failed).",
)
@click.option(
    "--status-class",
    type=click.Choice(["2xx", "3xx", "4xx", "5xx", "none"]),
    help="resend: the class of the last attempt's answer (none: no answer).",
)
@click.option("--event-type", "event_types", multiple=True, help="Only this event type (repeatable).")
@click.option("--since", callback=_when, help="Created at or after (Unix seconds or ISO 8601).")
@click.option("--until", callback=_when, help="Created before (Unix seconds or ISO 8601).")
@click.option("--due-before", callback=_when, help="cancel_pending: deliveries due before this time.")
@click.option("--dry-run", is_flag=True, help="Only count what the task would change.")
@click.option("--wait", is_flag=True, help="Follow the progress until the task ends.")
@json_option
@api_command
def tasks_create(
    app: str,
    kind: str,
    endpoint_id: str | None,
    statuses: tuple[str, ...],
    status_class: str | None,
    event_types: tuple[str, ...],
    since: float | None,
    until: float | None,
    due_before: float | None,
    dry_run: bool,
    wait: bool,
    as_json: bool,
    client: ApiClient,
) -> None:
    """Start a bulk task on APP (the workers run it in the background)."""
    body: dict[str, Any] = {
        "kind": kind,
        "statuses": list(statuses),
        "event_types": list(event_types),
        "dry_run": dry_run,
    }
    for key, value in (
        ("endpoint_id", endpoint_id),
        ("status_class", status_class),
        ("since", since),
        ("until", until),
        ("due_before", due_before),
    ):
        if value is not None:
            body[key] = value
    answer = client.post(path("applications", app, "tasks"), body)
    if dry_run:
        if as_json:
            print_json(answer)
        else:
            click.echo(f"dry run: {kind} would change {answer['matched']}")
        return
    if wait:
        answer = _wait(client, app, answer, quiet=as_json)
    if as_json:
        print_json(answer)
    elif not wait:
        click.echo(f"task {answer['id']} started: {answer['matched']} matched")


def _wait(client: ApiClient, app: str, task: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    last = None
    while True:
        line = _progress(task)
        if not quiet and line != last:
            click.echo(line)
            last = line
        if task["state"] in _FINISHED:
            return task
        time.sleep(_WAIT_POLL_S)
        task = client.get(path("applications", app, "tasks", task["id"]))


@tasks.command("list")
@click.argument("app")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@api_command
def tasks_list(app: str, limit: int, as_json: bool, client: ApiClient) -> None:
    """The application's tasks, newest first."""
    items = client.get(path("applications", app, "tasks"), params={"limit": limit})["items"]
    if as_json:
        print_json(items)
        return
    rows = [
        [
            t["id"],
            t["kind"],
            t["endpoint_id"] or "-",
            t["state"],
            f"{t['done']}/{t['matched']}",
            fmt_time(t["created_at"]),
        ]
        for t in items
    ]
    print_table(None, ["id", "kind", "endpoint", "state", "done", "created"], rows)


@tasks.command("show")
@click.argument("app")
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Follow the progress until the task ends.")
@json_option
@api_command
def tasks_show(app: str, task_id: str, wait: bool, as_json: bool, client: ApiClient) -> None:
    """One task with its filters and progress."""
    task = client.get(path("applications", app, "tasks", task_id))
    if wait:
        task = _wait(client, app, task, quiet=as_json)
    if as_json:
        print_json(task)
    else:
        print_details(f"task {task_id}", task, TASK_TIMES)


@tasks.command("cancel")
@click.argument("app")
@click.argument("task_id")
@json_option
@api_command
def tasks_cancel(app: str, task_id: str, as_json: bool, client: ApiClient) -> None:
    """Stop a task after its current batch (what it changed stays changed)."""
    task = client.post(path("applications", app, "tasks", task_id, "cancel"))
    if as_json:
        print_json(task)
    else:
        click.echo(_progress(task))
