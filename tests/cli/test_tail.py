"""`hookgate tail`: following attempts, including while the API cannot answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hookgate.cli import main
from hookgate.testing import RecordingReceiver, Reply

pytestmark = pytest.mark.slow


def test_tail_keeps_following_while_the_api_is_unavailable(tmp_path: Path) -> None:
    """A stand-in API answers 503 (its database restarting) to the first polls, then the attempts: tail
    notes the outage once on stderr, keeps polling, and prints every attempt once it answers again."""
    attempt = {
        "id": 1,
        "delivery_id": "dlv_1",
        "started_at": 1_700_000_000.0,
        "duration_ms": 12.0,
        "status_code": 200,
        "response_excerpt": "ok",
        "error_class": None,
        "outcome": "delivered",
    }
    unavailable = Reply.json(
        {"error": {"code": "store_unavailable", "message": "the store is unavailable"}}, 503
    )
    answers = Reply.json({"items": [attempt], "next_cursor": None})
    with RecordingReceiver([unavailable] * 3 + [answers]) as api:
        env = {
            "HOOKGATE_API_URL": api.base_url,
            "HOOKGATE_TOKEN": "hgk_test",
            "HOOKGATE_CLI_CONFIG": None,
            "HOME": str(tmp_path),
        }
        args = ["tail", "app_1", "--endpoint", "ep_1", "--interval", "0.05", "--max-polls", "6", "--json"]
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["delivery_id"] for line in result.stdout.splitlines()] == ["dlv_1"]
    assert result.stderr.count("the store is unavailable") == 1
    assert "the API answers again" in result.stderr
    assert api.count == 6
    assert {r.method for r in api.requests} == {"GET"}
