"""`hookgate endpoints` against a real ``hookgate serve``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from tests.cli.conftest import ok_json

pytestmark = pytest.mark.slow


def test_endpoints(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "EP", "--id", "ep-app")
    result = cli(
        "endpoints",
        "create",
        "ep-app",
        "https://example.com/hook",
        "--event-type",
        "order.created",
        "--event-type",
        "order.paid",
        "--header",
        "X-Team: payments",
    )
    assert result.exit_code == 0, result.stderr
    first_line, secret_line = result.stdout.splitlines()
    assert first_line.startswith("created endpoint ep_")
    assert first_line.endswith(" -> https://example.com/hook (standard-webhooks)")
    assert secret_line.startswith("signing secret (shown once, store it now): whsec_")
    endpoint_id = first_line.split()[2]

    created = ok_json(
        cli(
            "endpoints",
            "create",
            "ep-app",
            "https://example.com/other",
            "--payload-json",
            '{"format": "json"}',
            "--json",
        )
    )
    assert created["secret"]
    assert created["endpoint"]["event_types"] == []

    listed = ok_json(cli("endpoints", "list", "ep-app", "--json"))
    assert {e["id"] for e in listed} == {endpoint_id, created["endpoint"]["id"]}
    table = cli("endpoints", "list", "ep-app")
    assert endpoint_id in table.stdout
    assert "whsec_" not in table.stdout

    shown = ok_json(cli("endpoints", "show", "ep-app", endpoint_id, "--json"))
    assert shown["headers"] == {"X-Team": "payments"}
    assert shown["event_types"] == ["order.created", "order.paid"]
    assert "https://example.com/hook" in cli("endpoints", "show", "ep-app", endpoint_id).stdout

    rotated = cli("endpoints", "rotate-secret", "ep-app", endpoint_id, "--grace-s", "60")
    assert rotated.exit_code == 0, rotated.stderr
    assert "valid for 60 s" in rotated.stdout
    assert "new signing secret (shown once, store it now): whsec_" in rotated.stdout
    assert ok_json(cli("endpoints", "rotate-secret", "ep-app", endpoint_id, "--json"))["grace_s"] == 86400

    disabled = ok_json(
        cli("endpoints", "disable", "ep-app", endpoint_id, "--reason", "maintenance", "--json")
    )
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "maintenance"
    assert "disabled (maintenance)" in cli("endpoints", "list", "ep-app").stdout
    assert cli("endpoints", "enable", "ep-app", endpoint_id).stdout == f"endpoint {endpoint_id} enabled\n"
    assert ok_json(cli("endpoints", "show", "ep-app", endpoint_id, "--json"))["enabled"] is True

    health = ok_json(cli("endpoints", "health", "ep-app", endpoint_id, "--json"))
    assert health["endpoint_id"] == endpoint_id
    assert health["recent_attempts"] == 0
    assert "recent_success_rate" in cli("endpoints", "health", "ep-app", endpoint_id).stdout

    result = cli("endpoints", "show", "ep-app", "ep_nope")
    assert result.exit_code == 1
    assert "no such resource" in result.stderr


def test_endpoint_usage_errors(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "U", "--id", "usage-app")
    for args, message in (
        (("--auth-json", "{nope"), "--auth-json is not valid JSON"),
        (("--tls-json", "[1]"), "--tls-json must be a JSON object"),
        (("--header", "no colon"), "--header must look like"),
    ):
        result = cli("endpoints", "create", "usage-app", "https://example.com/h", *args)
        assert result.exit_code == 2, args
        assert message in result.stderr
    result = cli("endpoints", "create", "usage-app", "http://example.com/h")  # insecure without the flag
    assert result.exit_code == 1
    assert result.stderr.startswith("hookgate: ")


def test_endpoint_update(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "UP", "--id", "up-app")
    created = ok_json(cli("endpoints", "create", "up-app", "https://example.com/hook", "--json"))
    endpoint_id = created["endpoint"]["id"]
    updated = ok_json(
        cli(
            "endpoints",
            "update",
            "up-app",
            endpoint_id,
            "--url",
            "https://example.com/v2",
            "--event-type",
            "order.*",
            "--rate-limit",
            "5",
            "--auth-json",
            '{"type": "bearer", "token": "t0ken-value"}',
            "--json",
        )
    )
    assert updated["url"] == "https://example.com/v2"
    assert updated["event_types"] == ["order.*"]
    assert updated["rate_limit_per_s"] == 5
    assert updated["auth_type"] == "bearer"
    text = cli("endpoints", "update", "up-app", endpoint_id, "--rate-limit", "0")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.strip() == f"updated endpoint {endpoint_id} -> https://example.com/v2"
    assert ok_json(cli("endpoints", "show", "up-app", endpoint_id, "--json"))["rate_limit_per_s"] is None
    assert "t0ken-value" not in cli("endpoints", "show", "up-app", endpoint_id).stdout
    # nothing to change is a usage error; an invalid change is the API's 422, exit 1
    assert cli("endpoints", "update", "up-app", endpoint_id).exit_code == 2
    refused = cli("endpoints", "update", "up-app", endpoint_id, "--url", "http://plain.example/")
    assert refused.exit_code == 1
    assert "https" in refused.stderr


def test_endpoint_delete(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "D", "--id", "del-app")
    first, second = (
        ok_json(cli("endpoints", "create", "del-app", url, "--json"))["endpoint"]["id"]
        for url in ("https://example.com/a", "https://example.com/b")
    )

    kept = cli("endpoints", "delete", "del-app", first, input="n\n")
    assert kept.exit_code == 1  # declined: nothing deleted
    assert ok_json(cli("endpoints", "show", "del-app", first, "--json"))["id"] == first

    assert cli("endpoints", "delete", "del-app", first, input="y\n").stdout.endswith(
        f"deleted endpoint {first}\n"
    )
    gone = ok_json(cli("endpoints", "delete", "del-app", second, "--yes", "--json"))
    assert gone == {"id": second, "deleted": True}
    assert ok_json(cli("endpoints", "list", "del-app", "--json")) == []
    again = cli("endpoints", "delete", "del-app", first, "--yes")
    assert again.exit_code == 1
    assert "no such resource" in again.stderr
