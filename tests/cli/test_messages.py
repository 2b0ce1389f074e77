"""`hookgate send|messages|attempts|resend|recover` against a real ``hookgate serve`` and receivers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

from hookgate.schemes import registry
from hookgate.testing import RecordedRequest, RecordingReceiver, Reply
from tests.cli.conftest import Server, ok_json
from tests.support import MakeReceiver

pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("timed out waiting")


def test_send_and_follow_the_delivery(
    cli: Callable[..., Result], server: Server, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    secret, _ = registry.generate_key("hmac")
    cli("apps", "create", "Deliver", "--id", "dlv-app")
    created = ok_json(
        cli("endpoints", "create", "dlv-app", receiver.url, "--allow-insecure", "--secret", secret, "--json")
    )
    endpoint_id = created["endpoint"]["id"]
    assert created["secret"] in (None, secret)

    payload_file = tmp_path / "order.json"
    payload_file.write_text(json.dumps({"order": 1}))
    result = cli("send", "dlv-app", "order.created", "--data", f"@{payload_file}", "--idempotency-key", "k-1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("message msg_")
    assert result.stdout.rstrip().endswith(": 1 delivery")
    message_id = result.stdout.split()[1].rstrip(":")

    again = ok_json(
        cli(
            "send", "dlv-app", "order.created", "--data", '{"order": 1}', "--idempotency-key", "k-1", "--json"
        )
    )
    assert again["duplicate"] is True
    assert again["message"]["id"] == message_id
    dup = cli("send", "dlv-app", "order.created", "--data", '{"order": 1}', "--idempotency-key", "k-1")
    assert "duplicate" in dup.stdout

    # the delivery engine signs and posts it to the receiver
    first = receiver.wait_for(1, timeout=20)[0]
    headers, body = first.headers, first.body
    assert json.loads(body) == {"order": 1}
    verifier = registry.build_verifier("standard-webhooks", [secret], [])
    verified = verifier.verify(body, {k.lower(): v for k, v in headers.items()}, now=time.time())
    assert json.loads(verified.payload) == {"order": 1}

    def attempts_of_message() -> list[dict[str, Any]]:
        found = ok_json(cli("attempts", "list", "dlv-app", "--message", message_id, "--json"))
        return [a for entry in found for a in entry["attempts"]]

    attempts = wait_for(attempts_of_message)
    assert attempts[0]["status_code"] == 200
    delivery_id = attempts[0]["delivery_id"]
    table = cli("attempts", "list", "dlv-app", "--message", message_id)
    assert table.exit_code == 0
    assert delivery_id in table.stdout
    assert attempts[0]["outcome"] in table.stdout
    by_endpoint = ok_json(cli("attempts", "list", "dlv-app", "--endpoint", endpoint_id, "--json"))
    assert [a["delivery_id"] for a in by_endpoint["items"]] == [delivery_id]
    assert delivery_id in cli("attempts", "list", "dlv-app", "--endpoint", endpoint_id).stdout
    assert cli("attempts", "list", "dlv-app").exit_code == 2
    both = cli("attempts", "list", "dlv-app", "--message", message_id, "--endpoint", endpoint_id)
    assert both.exit_code == 2

    # messages: list (one page, all pages), show
    for n in range(3):
        assert cli("send", "dlv-app", "order.paid", "--data", json.dumps({"n": n})).exit_code == 0
    page = ok_json(cli("messages", "list", "dlv-app", "--limit", "2", "--json"))
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    assert "more messages: use --all" in cli("messages", "list", "dlv-app", "--limit", "2").stdout
    everything = ok_json(cli("messages", "list", "dlv-app", "--limit", "2", "--all", "--json"))
    assert len(everything["items"]) == 4
    assert everything["next_cursor"] is None
    paid = ok_json(cli("messages", "list", "dlv-app", "--event-type", "order.paid", "--all", "--json"))
    assert {m["event_type"] for m in paid["items"]} == {"order.paid"}
    assert message_id in cli("messages", "list", "dlv-app", "--all").stdout
    shown = ok_json(cli("messages", "show", "dlv-app", message_id, "--json"))
    assert shown["payload"] == {"order": 1}
    assert shown["idempotency_key"] == "k-1"
    text = cli("messages", "show", "dlv-app", message_id)
    assert '"order": 1' in text.stdout

    # health now has attempts
    health = ok_json(cli("endpoints", "health", "dlv-app", endpoint_id, "--json"))
    assert health["recent_attempts"] >= 1

    # tail: the recent attempts first, then new ones as they happen
    receiver.wait_for(4, timeout=20)
    wait_for(
        lambda: (
            len(ok_json(cli("attempts", "list", "dlv-app", "--endpoint", endpoint_id, "--json"))["items"])
            >= 4
        )
    )
    tailed = cli("tail", "dlv-app", "--max-polls", "1", "--interval", "0.1", "--lines", "2", "--json")
    lines = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert len(lines) == 2
    assert all(line["endpoint_id"] == endpoint_id and line["status_code"] == 200 for line in lines)
    plain = cli("tail", "dlv-app", "--endpoint", endpoint_id, "--max-polls", "1", "--lines", "1")
    assert plain.exit_code == 0
    assert endpoint_id in plain.stdout
    assert "200" in plain.stdout

    def publish_later() -> None:
        time.sleep(0.5)
        httpx.post(
            f"{server.base}/api/v1/applications/dlv-app/messages",
            json={"event_type": "order.shipped", "payload": {"late": True}},
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=10,
        )

    publisher = threading.Thread(target=publish_later)
    publisher.start()
    try:
        follow = cli("tail", "dlv-app", "--lines", "0", "--interval", "0.3", "--max-polls", "20", "--json")
    finally:
        publisher.join(10)
    assert follow.exit_code == 0
    new = [json.loads(line) for line in follow.stdout.splitlines()]
    assert len(new) == 1
    assert new[0]["status_code"] == 200

    # resend, recover
    resent = ok_json(cli("resend", "dlv-app", delivery_id, "--json"))
    assert resent["id"] == delivery_id
    assert cli("resend", "dlv-app", delivery_id).stdout.startswith(f"delivery {delivery_id} queued again")
    assert cli("resend", "dlv-app", "dlv_nope").exit_code == 1
    recovered = ok_json(cli("recover", "dlv-app", endpoint_id, "--since", "0", "--json"))
    assert recovered["recovered"] >= 0
    plain_recover = cli("recover", "dlv-app", endpoint_id, "--since", "2024-01-01T00:00:00Z")
    assert plain_recover.exit_code == 0, plain_recover.stderr
    assert plain_recover.stdout.startswith("recovered ")
    assert cli("recover", "dlv-app", endpoint_id, "--since", "yesterday").exit_code == 2


def test_send_usage_errors(cli: Callable[..., Result], tmp_path: Path) -> None:
    cli("apps", "create", "S", "--id", "send-app")
    for data, message in (
        ("{nope", "--data is not valid JSON"),
        ("42", "must be a JSON object or array"),
        (f"@{tmp_path / 'missing.json'}", "cannot read"),
    ):
        result = cli("send", "send-app", "x.y", "--data", data)
        assert result.exit_code == 2, data
        assert message in result.stderr
    assert cli("send", "send-app", "x.y").exit_code == 2  # --data is required


@pytest.fixture
def flaky_receiver(receivers: MakeReceiver) -> RecordingReceiver:
    """Answers 500 until its ``respond`` is set to 200."""
    return receivers(Reply(500, "no"))


def answered(receiver: RecordingReceiver) -> list[int]:
    """The status of every answered request, in arrival order."""
    return [r.reply.status for r in receiver.requests if r.reply is not None]


def test_bulk_resend(cli: Callable[..., Result], server: Server, flaky_receiver: RecordingReceiver) -> None:
    app = "bulk-app"
    assert cli("apps", "create", "Bulk", "--id", app).exit_code == 0
    api = httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
    with api:
        created = api.post(
            f"/api/v1/applications/{app}/endpoints",
            json={"url": flaky_receiver.url, "allow_insecure": True, "retry_schedule": [0]},
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["endpoint"]["id"]
        deliveries_url = f"/api/v1/applications/{app}/endpoints/{endpoint_id}/deliveries"

        def deliveries(status: str | None = None) -> list[dict[str, Any]]:
            params = {"limit": 1000, **({"status": status} if status else {})}
            answer = api.get(deliveries_url, params=params)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        for n in range(3):
            result = cli("send", app, "order.created", "--data", json.dumps({"n": n}))
            assert result.exit_code == 0, result.stderr
        dead = wait_for(lambda: (d := deliveries("dead")) and len(d) == 3 and d)
        dead_ids = {d["id"] for d in dead}

        # nothing failed (retrying) now, and usage errors
        assert ok_json(
            cli("resend", app, "--endpoint", endpoint_id, "--status", "failed", "--yes", "--json")
        ) == {
            "resent": 0,
            "ids": [],
        }
        some_id = next(iter(dead_ids))
        both = cli("resend", app, some_id, "--endpoint", endpoint_id, "--yes")
        assert both.exit_code == 2
        assert "exactly one of DELIVERY_ID or --endpoint" in both.stderr
        assert cli("resend", app).exit_code == 2
        assert cli("resend", app, some_id, "--all").exit_code == 2
        assert cli("resend", app, "--endpoint", endpoint_id, "--status", "delivered").exit_code == 2

        # declining the confirmation resends nothing
        declined = cli("resend", app, "--endpoint", endpoint_id, input="n\n")
        assert declined.exit_code == 1
        assert "resend 3 dead deliveries" in declined.stderr
        assert {d["id"] for d in deliveries("dead")} == dead_ids

        # one page of two without --all: a note on stderr, confirmed with input
        flaky_receiver.respond = 200
        first = cli("resend", app, "--endpoint", endpoint_id, "--limit", "2", input="y\n")
        assert first.exit_code == 0, first.stderr
        assert first.stdout.strip() == f"resent 2 deliveries to {endpoint_id}"
        assert "use --all" in first.stderr

        # the rest, every page, --yes, --json
        rest = ok_json(
            cli("resend", app, "--endpoint", endpoint_id, "--limit", "1", "--all", "--yes", "--json")
        )
        assert rest["resent"] == len(rest["ids"]) == 1
        assert set(rest["ids"]) <= dead_ids
        assert "failed" not in rest

        by_id = {d["id"]: d for d in deliveries()}
        assert all(by_id[i]["status"] in {"pending", "in_flight", "failed", "delivered"} for i in dead_ids)
        wait_for(lambda: {d["id"] for d in deliveries("delivered")} == dead_ids)
        assert answered(flaky_receiver).count(200) == 3


def test_bulk_resend_all_at_once(
    cli: Callable[..., Result], server: Server, flaky_receiver: RecordingReceiver
) -> None:
    app = "bulk-app-2"
    assert cli("apps", "create", "Bulk 2", "--id", app).exit_code == 0
    api = httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
    with api:
        created = api.post(
            f"/api/v1/applications/{app}/endpoints",
            json={"url": flaky_receiver.url, "allow_insecure": True, "retry_schedule": [0]},
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["endpoint"]["id"]
        deliveries_url = f"/api/v1/applications/{app}/endpoints/{endpoint_id}/deliveries"

        def statuses() -> dict[str, str]:
            answer = api.get(deliveries_url, params={"limit": 1000})
            assert answer.status_code == 200, answer.text
            return {d["id"]: d["status"] for d in answer.json()["items"]}

        for n in range(3):
            assert cli("send", app, "order.created", "--data", json.dumps({"n": n})).exit_code == 0
        wait_for(lambda: (s := statuses()) and len(s) == 3 and set(s.values()) == {"dead"})
        flaky_receiver.respond = (
            200  # from now on the receiver accepts: a resent delivery cannot go dead again
        )

        bulk = ok_json(
            cli("resend", app, "--endpoint", endpoint_id, "--status", "dead", "--all", "--yes", "--json")
        )
        assert bulk["resent"] == 3
        assert set(bulk["ids"]) == set(statuses())
        assert all(s in {"pending", "in_flight", "failed", "delivered"} for s in statuses().values())
        wait_for(lambda: set(statuses().values()) == {"delivered"})
        assert answered(flaky_receiver).count(200) == 3

        # the single-delivery form still works
        one = next(iter(bulk["ids"]))
        single = cli("resend", app, one)
        assert single.exit_code == 0, single.stderr
        assert single.stdout.startswith(f"delivery {one} queued again (")


@pytest.fixture
def recording_api(receivers: MakeReceiver) -> tuple[str, list[tuple[str, str, Any]]]:
    """A loopback stand-in for the API that records each request and answers only the bulk resend operation
    (anything else, such as a per-delivery resend or a deliveries listing, gets 500)."""
    seen: list[tuple[str, str, Any]] = []
    waiting = ["dlv_c", "dlv_b", "dlv_a"]

    def respond(request: RecordedRequest) -> Reply:
        target = request.path + (f"?{request.query}" if request.query else "")
        if request.method != "POST":
            seen.append((request.method, target, None))
            return Reply.json({"error": {"code": "unexpected", "message": target}}, 500)
        body = json.loads(request.body or b"null")
        seen.append(("POST", target, body))
        if not request.path.endswith("/endpoints/ep_1/resend"):
            return Reply.json({"error": {"code": "unexpected", "message": target}}, 500)
        limit = body["limit"] or len(waiting)
        ids = waiting[:limit]
        more = len(waiting) > limit
        return Reply.json(
            {"resent": len(ids), "ids": ids, "more": more, "dry_run": body.get("dry_run", False)}
        )

    return receivers(respond).base_url, seen


def test_bulk_resend_is_one_request_or_a_dry_run_and_one(
    cli: Callable[..., Result], recording_api: tuple[str, list[tuple[str, str, Any]]]
) -> None:
    """The CLI asks the API's bulk operation (issue 11): no listing, no per-delivery loop."""
    url, seen = recording_api
    op = "/api/v1/applications/app/endpoints/ep_1/resend"
    yes = ok_json(
        cli("resend", "app", "--endpoint", "ep_1", "--all", "--yes", "--json", HOOKGATE_API_URL=url)
    )
    assert yes == {"resent": 3, "ids": ["dlv_c", "dlv_b", "dlv_a"]}
    assert seen == [("POST", op, {"status": "dead", "limit": None})]

    seen.clear()
    asked = cli(
        "resend",
        "app",
        "--endpoint",
        "ep_1",
        "--status",
        "failed",
        "--limit",
        "2",
        input="y\n",
        HOOKGATE_API_URL=url,
    )
    assert asked.exit_code == 0, asked.stderr
    assert "resend 2 failed deliveries to ep_1?" in asked.stderr
    assert "only the first 2 failed deliveries; use --all" in asked.stderr
    assert asked.stdout.strip() == "resent 2 deliveries to ep_1"
    assert seen == [
        ("POST", op, {"status": "failed", "limit": 2, "dry_run": True}),
        ("POST", op, {"status": "failed", "limit": 2}),
    ]

    seen.clear()
    declined = cli("resend", "app", "--endpoint", "ep_1", input="n\n", HOOKGATE_API_URL=url)
    assert declined.exit_code == 1
    assert seen == [("POST", op, {"status": "dead", "limit": 100, "dry_run": True})]


def test_expunge_a_message(cli: Callable[..., Result], server: Server) -> None:
    cli("apps", "create", "Erase", "--id", "erase-app")
    sent = ok_json(
        cli("send", "erase-app", "user.updated", "--data", '{"email": "x@example.test"}', "--json")
    )
    message_id = sent["message"]["id"]
    text = cli("messages", "expunge", "erase-app", message_id)
    assert text.exit_code == 0, text.output + text.stderr
    assert f"message {message_id} expunged" in text.stdout
    assert "x@example.test" not in text.stdout
    shown = ok_json(cli("messages", "show", "erase-app", message_id, "--json"))
    assert shown["payload"] is None
    assert shown["expunged_at"] is not None
    again = ok_json(cli("messages", "expunge", "erase-app", message_id, "--json"))
    assert again["expunged_at"] == shown["expunged_at"]
    assert cli("messages", "expunge", "erase-app", "msg_nope").exit_code != 0
