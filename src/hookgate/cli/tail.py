"""``hookgate tail``: follow an application's delivery attempts over the management API as they happen."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from hookgate.cli._common import (
    api_command,
    finite_option,
    fmt_time,
    json_option,
    make_console,
)
from hookgate.cli.api_client import ApiClient, ApiError, path

__all__ = ["tail"]


def _attempt_key(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a.get("id"), a["delivery_id"], a["started_at"])


@click.command("tail")
@click.argument("app")
@click.option("--endpoint", "endpoint_id", help="Only this endpoint (default: every endpoint of APP).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    callback=finite_option,
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
@json_option
@api_command
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
    make_console().print(
        f"{fmt_time(a['started_at'])} [bold]{endpoint_id}[/bold] {a['delivery_id']} "
        f"[{style}]{status} {a['outcome']}[/{style}] {a['duration_ms']:.0f} ms"
        + (f"  {excerpt}" if excerpt else ""),
        markup=True,
        highlight=False,
    )
