"""`hookgate tail`: following attempts, including while the API cannot answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hookgate.cli import main

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
    requests: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if len(requests) <= 3:
                status, body = (
                    503,
                    {"error": {"code": "store_unavailable", "message": "the store is unavailable"}},
                )
            else:
                status, body = 200, {"items": [attempt], "next_cursor": None}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            "HOOKGATE_API_URL": f"http://127.0.0.1:{httpd.server_address[1]}",
            "HOOKGATE_TOKEN": "hgk_test",
            "HOOKGATE_CLI_CONFIG": None,
            "HOME": str(tmp_path),
        }
        args = ["tail", "app_1", "--endpoint", "ep_1", "--interval", "0.05", "--max-polls", "6", "--json"]
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["delivery_id"] for line in result.stdout.splitlines()] == ["dlv_1"]
    assert result.stderr.count("the store is unavailable") == 1
    assert "the API answers again" in result.stderr
    assert len(requests) == 6
