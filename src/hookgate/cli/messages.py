"""Messages and their deliveries over the management API: ``send``, ``messages``, ``attempts``, ``resend``
(one delivery, or an endpoint's dead or failed ones in bulk) and ``recover``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.json import JSON

from hookgate.cli._common import (
    api_command,
    fail,
    fmt_time,
    fmt_value,
    json_option,
    loads,
    make_console,
    print_details,
    print_json,
    print_table,
    read_text,
)
from hookgate.cli.api_client import ApiClient, path

__all__ = ["attempts", "messages", "recover", "resend", "send"]


def _parse_since(value: str) -> float:
    try:
        since = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(since):
            fail(f"--since must be a finite number of Unix seconds, got {value!r}", 2)
        return since
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since must be ISO 8601 (2024-05-01T12:00:00Z) or Unix seconds, got {value!r}", 2)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a time without an offset is read as UTC
    return parsed.timestamp()


def _read_data(data: str) -> Any:
    if data.startswith("@"):
        file = Path(data[1:])
        text = read_text(file)
        origin = str(file)
    else:
        text, origin = data, "--data"
    try:
        payload = loads(text)
    except ValueError as exc:
        fail(f"{origin} is not valid JSON: {exc}", 2)
    if not isinstance(payload, dict | list):
        fail(f"{origin} must be a JSON object or array", 2)
    return payload


@click.command("send")
@click.argument("app")
@click.argument("event_type")
@click.option("--data", required=True, help="The payload: JSON text, or @file.json.")
@click.option("--idempotency-key", help="Publishing again with the same key returns the first message.")
@json_option
@api_command
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
        print_json(result)
        return
    count = len(result["deliveries"])
    note = " (duplicate: already published with this idempotency key)" if result["duplicate"] else ""
    click.echo(
        f"message {result['message']['id']}: {count} {'delivery' if count == 1 else 'deliveries'}{note}"
    )


@click.group("messages")
def messages() -> None:
    """Published messages: list, show."""


@messages.command("list")
@click.argument("app")
@click.option("--event-type", help="Only this event type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Page size.")
@click.option("--all", "follow", is_flag=True, help="Follow next_cursor to the end.")
@json_option
@api_command
def messages_list(
    app: str, event_type: str | None, limit: int, follow: bool, as_json: bool, client: ApiClient
) -> None:
    """List messages, newest first (one page unless --all)."""
    params: dict[str, str | int | float] = {"limit": limit}
    if event_type:
        params["event_type"] = event_type
    url = path("applications", app, "messages")
    if follow:
        items = list(client.items(url, params))
        next_cursor = None
    else:
        page = client.get(url, params=params)
        items, next_cursor = page["items"], page.get("next_cursor")
    if as_json:
        print_json({"items": items, "next_cursor": next_cursor})
        return
    print_table(
        f"messages of {app}",
        ["id", "event type", "created", "idempotency key"],
        [
            [m["id"], m["event_type"], fmt_time(m["created_at"]), m.get("idempotency_key") or "-"]
            for m in items
        ],
    )
    if next_cursor:
        click.echo("more messages: use --all")


@messages.command("show")
@click.argument("app")
@click.argument("msg")
@json_option
@api_command
def messages_show(app: str, msg: str, as_json: bool, client: ApiClient) -> None:
    """Show one message and its payload."""
    found = client.get(path("applications", app, "messages", msg))
    if as_json:
        print_json(found)
        return
    shown = {k: v for k, v in found.items() if k != "payload"}
    print_details(f"message {found['id']}", shown, ("created_at",))
    console = make_console()
    console.print(JSON.from_data(found["payload"]))


@messages.command("expunge")
@click.argument("app")
@click.argument("msg")
@json_option
@api_command
def messages_expunge(app: str, msg: str, as_json: bool, client: ApiClient) -> None:
    """Erase one message's payload (GDPR): its deliveries and attempts stay, the content goes, and a
    delivery still to be sent is ended (dead)."""
    found = client.post(path("applications", app, "messages", msg, "expunge"))
    if as_json:
        print_json(found)
        return
    shown = {k: v for k, v in found.items() if k != "payload"}
    print_details(f"message {found['id']} expunged", shown, ("created_at", "expunged_at"))


def _attempt_row(a: dict[str, Any], endpoint_id: str | None = None) -> list[str]:
    row = [
        fmt_value(a.get("id")),
        a["delivery_id"],
        fmt_time(a["started_at"]),
        fmt_value(a.get("status_code")),
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
    for a in client.items(url, {"limit": 1000}):
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
@json_option
@api_command
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
        fail("pass exactly one of --message or --endpoint", 2)
    if message_id is not None:
        deliveries = _message_attempts(client, app, message_id)
        if as_json:
            print_json(deliveries)
            return
        rows = []
        for entry in deliveries:
            d = entry["delivery"]
            if not entry["attempts"]:
                rows.append(["-", d["id"], d["endpoint_id"], "-", "-", d["status"], "-", "-"])
            rows.extend(_attempt_row(a, d["endpoint_id"]) for a in entry["attempts"])
        columns = list(ATTEMPT_COLUMNS)
        columns.insert(2, "endpoint")
        print_table(f"attempts of message {message_id}", columns, rows)
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
        print_json(page)
        return
    print_table(
        f"attempts to endpoint {endpoint_id}", ATTEMPT_COLUMNS, [_attempt_row(a) for a in page["items"]]
    )


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
@click.option(
    "--limit", type=click.IntRange(1, 1000), help="--endpoint: at most this many, newest first (default 100)."
)
@click.option("--all", "follow", is_flag=True, help="--endpoint: every one of them (no --limit).")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="--endpoint: do not ask for confirmation.")
@json_option
@api_command
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
        fail("pass exactly one of DELIVERY_ID or --endpoint", 2)
    if delivery_id is not None:
        if status is not None or limit is not None or follow:
            fail("--status, --limit and --all go with --endpoint", 2)
        _resend_one(client, app, delivery_id, as_json)
        return
    if endpoint_id is None:  # unreachable: checked above
        return
    status = status or "dead"
    _resend_bulk(client, app, endpoint_id, status, None if follow else (limit or 100), assume_yes, as_json)


def _resend_bulk(
    client: ApiClient,
    app: str,
    endpoint_id: str,
    status: str,
    limit: int | None,
    assume_yes: bool,
    as_json: bool,
) -> None:
    """The endpoint's bulk resend operation: without ``assume_yes`` a dry run first, for the confirmation."""
    url = path("applications", app, "endpoints", endpoint_id, "resend")
    err = Console(stderr=True, highlight=False)
    if not assume_yes:
        with err.status(f"finding {status} deliveries to {endpoint_id} ..."):
            preview = client.post(url, {"status": status, "limit": limit, "dry_run": True})
        count = preview["resent"]
        if not count:
            _report_bulk(endpoint_id, status, [], as_json)
            return
        if preview["more"]:
            _only_first(count, status)
        if not click.confirm(f"resend {_n(count, status)} to {endpoint_id}?", default=False, err=True):
            fail("nothing resent", 1)
        limit = count  # never more than was confirmed
    with err.status(f"resending {status} deliveries to {endpoint_id} ..."):
        done = client.post(url, {"status": status, "limit": limit})
    if done["more"] and assume_yes:
        _only_first(done["resent"], status)
    _report_bulk(endpoint_id, status, done["ids"], as_json)


def _only_first(count: int, status: str) -> None:
    click.echo(f"hookgate: only the first {_n(count, status)}; use --all for every page", err=True)


def _report_bulk(endpoint_id: str, status: str, resent: list[str], as_json: bool) -> None:
    if as_json:
        print_json({"resent": len(resent), "ids": resent})
    elif not resent:
        click.echo(f"no {status} deliveries to {endpoint_id}")
    else:
        click.echo(f"resent {_n(len(resent))} to {endpoint_id}")


def _resend_one(client: ApiClient, app: str, delivery_id: str, as_json: bool) -> None:
    delivery = client.post(path("applications", app, "deliveries", delivery_id, "resend"))
    if as_json:
        print_json(delivery)
    else:
        click.echo(f"delivery {delivery['id']} queued again ({delivery['status']})")


def _n(count: int, status: str = "") -> str:
    return f"{count} {status}{' ' if status else ''}{'delivery' if count == 1 else 'deliveries'}"


@click.command("recover")
@click.argument("app")
@click.argument("ep")
@click.option("--since", required=True, help="ISO 8601 time (UTC if no offset) or Unix seconds.")
@json_option
@api_command
def recover(app: str, ep: str, since: str, as_json: bool, client: ApiClient) -> None:
    """Re-queue an endpoint's failed deliveries created since a time."""
    when = _parse_since(since)
    url = path("applications", app, "endpoints", ep, "recover")
    if as_json:
        print_json(client.post(url, {"since": when}))
        return
    console = Console(stderr=True)
    with console.status(f"recovering deliveries to {ep} since {fmt_time(when)} ..."):
        result = client.post(url, {"since": when})
    click.echo(f"recovered {result['recovered']} deliveries to {ep}")
