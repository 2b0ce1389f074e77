"""The developer CLI against a real ``hookgate serve``: apps, endpoints, messages, sources, tokens, listen."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from hookgate.cli import main
from hookgate.keys import generate_key
from hookgate.schemes import registry
from tests.test_cli_serve import READY_LINE, TOKEN_LINE, child_env, free_port

pytestmark = pytest.mark.slow

QUIET = ("--log-level", "warning")


@dataclass
class Server:
    base: str
    token: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "hookgate", "serve", "--data-dir", str(data_dir), "--port", str(port), *QUIET],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=child_env(HOOKGATE_SSRF_ALLOWLIST="127.0.0.0/8"),
        text=True,
    )
    try:
        assert proc.stdout is not None
        token = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail("hookgate serve exited early")
            line = line.rstrip("\n")
            if m := TOKEN_LINE.match(line):
                token = m.group(1)
            if READY_LINE.match(line):
                break
        assert token is not None
        yield Server(f"http://127.0.0.1:{port}", token)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Callable[..., Result]:
    env = {
        "HOOKGATE_API_URL": server.base,
        "HOOKGATE_TOKEN": server.token,
        "HOOKGATE_CLI_CONFIG": None,
        "HOME": str(tmp_path),  # no ~/.config/hookgate/cli.toml of the developer's
        "COLUMNS": "220",
    }

    def run(*args: str, input: str | None = None, **env_overrides: str | None) -> Result:
        return CliRunner().invoke(
            main, list(args), input=input, env={**env, **env_overrides}, catch_exceptions=False
        )

    return run


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{httpd.server_address[1]}/hook", got)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("timed out waiting")


# -- configuration and errors --------------------------------------------------------------------------


def test_no_token_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("apps", "list", HOOKGATE_TOKEN=None)
    assert result.exit_code == 2
    assert "no API token" in result.stderr


def test_config_file(cli: Callable[..., Result], server: Server, tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    config.write_text(f'api_url = "{server.base}"\ntoken = "{server.token}"\n')
    result = cli(
        "apps", "list", "--json", HOOKGATE_TOKEN=None, HOOKGATE_API_URL=None, HOOKGATE_CLI_CONFIG=str(config)
    )
    assert isinstance(ok_json(result), list)
    # the default location under the home directory
    (tmp_path / ".config" / "hookgate").mkdir(parents=True)
    (tmp_path / ".config" / "hookgate" / "cli.toml").write_text(config.read_text())
    assert isinstance(
        ok_json(cli("apps", "list", "--json", HOOKGATE_TOKEN=None, HOOKGATE_API_URL=None)), list
    )
    config.write_text("token = [")
    result = cli("apps", "list", HOOKGATE_TOKEN=None, HOOKGATE_CLI_CONFIG=str(config))
    assert result.exit_code == 2
    assert "not valid TOML" in result.stderr


def test_bad_token_and_unreachable_api(cli: Callable[..., Result], server: Server) -> None:
    result = cli("apps", "list", "--token", "hgk_wrong")
    assert result.exit_code == 1
    assert result.stderr.startswith("hookgate: a valid bearer token is required")
    assert "hgk_wrong" not in result.output + result.stderr
    result = cli("apps", "list", "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach the API" in result.stderr
    assert server.token not in result.stderr


def test_unknown_app_reports_the_api_message(cli: Callable[..., Result]) -> None:
    for args in (
        ("apps", "show", "nope"),
        ("endpoints", "list", "nope"),
        ("send", "nope", "x.y", "--data", "{}"),
        ("messages", "list", "nope"),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr == "hookgate: no such resource [not_found]\n", args


# -- applications, event types, endpoints --------------------------------------------------------------


def test_apps(cli: Callable[..., Result]) -> None:
    created = ok_json(cli("apps", "create", "Shop", "--id", "shop-apps", "--json"))
    assert created["id"] == "shop-apps"
    result = cli("apps", "create", "Shop", "--id", "shop-apps")
    assert result.exit_code == 1
    assert "application shop-apps exists [conflict]" in result.stderr
    result = cli("apps", "create", "Other")
    assert result.exit_code == 0
    assert result.stdout.startswith("created application ")
    listed = ok_json(cli("apps", "list", "--json"))
    assert "shop-apps" in {a["id"] for a in listed}
    table = cli("apps", "list")
    assert table.exit_code == 0
    assert "shop-apps" in table.stdout
    assert "Shop" in table.stdout
    shown = ok_json(cli("apps", "show", "shop-apps", "--json"))
    assert shown == created
    details = cli("apps", "show", "shop-apps")
    assert "shop-apps" in details.stdout
    result = cli("apps", "create", "bad", "--id", "no spaces")
    assert result.exit_code == 1
    assert "validation_error" in result.stderr


def test_event_types(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "ET", "--id", "et-app")
    saved = ok_json(
        cli("event-types", "create", "et-app", "order.created", "--description", "New order", "--json")
    )
    assert saved["name"] == "order.created"
    assert cli("event-types", "create", "et-app", "order.paid").stdout == "event type order.paid saved\n"
    listed = ok_json(cli("event-types", "list", "et-app", "--json"))
    assert {e["name"] for e in listed} == {"order.created", "order.paid"}
    table = cli("event-types", "list", "et-app")
    assert "New order" in table.stdout


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("endpoints", "update", "a", "e", "--timeout-s", "nan"), "nan is not a finite number"),
        (("endpoints", "update", "a", "e", "--rate-limit", "inf"), "inf is not a finite number"),
        (("endpoints", "update", "a", "e", "--timeout-s", "1e400"), "inf is not a finite number"),
        (("endpoints", "rotate-secret", "a", "e", "--grace-s", "inf"), "inf is not a finite number"),
        (("endpoints", "rotate-secret", "a", "e", "--grace-s", "-1"), "-1.0 is not in the range x>=0"),
        (("tail", "a", "--interval", "inf"), "inf is not a finite number"),
        (("recover", "a", "e", "--since", "nan"), "--since must be a finite number of Unix seconds"),
        (("recover", "a", "e", "--since", "1e400"), "--since must be a finite number of Unix seconds"),
        (("send", "a", "x.y", "--data", '{"n": NaN}'), "--data is not valid JSON: NaN is not a JSON number"),
        (("send", "a", "x.y", "--data", '{"n": 1e999}'), "--data is not valid JSON: 1e999 is not a finite"),
        (
            ("endpoints", "create", "a", "https://r.example/h", "--auth-json", '{"lifetime": Infinity}'),
            "--auth-json is not valid JSON: Infinity is not a JSON number",
        ),
        (("sources", "create", "--file", "{toml}"), "is not valid TOML: inf is not a finite number"),
        (("sources", "create", "--file", "{json}"), "is not valid JSON: NaN is not a JSON number"),
    ],
)
def test_non_finite_numbers_are_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    # refused before any request (the HTTP client could not even encode them): no server needed
    toml = tmp_path / "source.toml"
    toml.write_text(SOURCE_TOML + "rate_limit_per_s = inf\n")
    as_json = tmp_path / "source.json"
    as_json.write_text('{"name": "n", "rate_limit_per_s": NaN}')
    env = {"HOOKGATE_API_URL": "http://127.0.0.1:9", "HOOKGATE_TOKEN": "hgk_x", "HOME": str(tmp_path)}
    argv = [{"{toml}": str(toml), "{json}": str(as_json)}.get(a, a) for a in args]
    result = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


# -- send, messages, attempts, tail, resend, recover ---------------------------------------------------


def test_send_and_follow_the_delivery(
    cli: Callable[..., Result], server: Server, receiver: Receiver, tmp_path: Path
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
    headers, body = wait_for(lambda: receiver.requests and receiver.requests[0])
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
    wait_for(lambda: len(receiver.requests) >= 4)
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


# -- sources, tokens -----------------------------------------------------------------------------------


INBOUND_SECRET = "s3cret-inbound-value"
FORWARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SOURCE: dict[str, Any] = {
    "name": "cli-github",
    "scheme": "github",
    "secrets": [INBOUND_SECRET],
    "path": "/inbound/cli-github",
    "forward_to": "https://app.example/hooks/github",
    "forward_secret": FORWARD_SECRET,
    "event_id": "header:X-GitHub-Delivery",
}
SOURCE_TOML = f"""\
scheme = "github"
secrets = ["{INBOUND_SECRET}"]
path = "/inbound/cli-toml"
forward_to = "https://app.example/hooks/toml"
forward_secret = "{FORWARD_SECRET}"
"""


def _no_secrets(text: str) -> None:
    assert INBOUND_SECRET not in text
    assert FORWARD_SECRET.removeprefix("whsec_") not in text


def test_sources(cli: Callable[..., Result], tmp_path: Path) -> None:
    json_file = tmp_path / "source.json"
    json_file.write_text(json.dumps(SOURCE))
    created = cli("sources", "create", "--file", str(json_file))
    assert created.exit_code == 0, created.stderr
    assert created.stdout.startswith("created source src_")
    assert "(cli-github): /inbound/cli-github -> https://app.example/hooks/github" in created.stdout
    _no_secrets(created.stdout)
    source_id = created.stdout.split()[2]

    # TOML, top-level keys; the name from --name (the file has none)
    toml_file = tmp_path / "source.toml"
    toml_file.write_text(SOURCE_TOML)
    from_toml = ok_json(cli("sources", "create", "--file", str(toml_file), "--name", "cli-toml", "--json"))
    assert from_toml["name"] == "cli-toml"
    assert from_toml["path"] == "/inbound/cli-toml"
    assert not {"secrets", "keys", "forward_secret"} & set(from_toml)

    listed = ok_json(cli("sources", "list", "--json"))
    assert {source_id, from_toml["id"]} <= {s["id"] for s in listed}
    table = cli("sources", "list")
    assert table.exit_code == 0
    assert source_id in table.stdout
    assert "cli-toml" in table.stdout
    _no_secrets(table.stdout)

    shown = ok_json(cli("sources", "show", source_id, "--json"))
    assert shown["name"] == "cli-github"
    assert shown["event_id"] == "header:X-GitHub-Delivery"
    details = cli("sources", "show", source_id)
    assert "https://app.example/hooks/github" in details.stdout
    _no_secrets(details.stdout)

    # update: a file without a name keeps the current one
    json_file.write_text(
        json.dumps(
            {k: v for k, v in SOURCE.items() if k != "name"} | {"forward_to": "https://app.example/v2"}
        )
    )
    updated = ok_json(cli("sources", "update", source_id, "--file", str(json_file), "--json"))
    assert updated["name"] == "cli-github"
    assert updated["forward_to"] == "https://app.example/v2"
    assert updated["created_at"] == shown["created_at"]
    assert cli("sources", "update", source_id, "--file", str(json_file)).stdout == (
        f"updated source {source_id} (cli-github)\n"
    )

    assert ok_json(cli("sources", "delete", from_toml["id"], "--json")) == {
        "id": from_toml["id"],
        "deleted": True,
    }
    assert cli("sources", "delete", source_id).stdout == f"deleted source {source_id}\n"
    assert not {source_id, from_toml["id"]} & {s["id"] for s in ok_json(cli("sources", "list", "--json"))}


def test_source_errors(cli: Callable[..., Result], tmp_path: Path) -> None:
    # a bad file is a usage error
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("scheme = [")
    array = tmp_path / "array.json"
    array.write_text("[1]")
    nameless = tmp_path / "nameless.toml"
    nameless.write_text(SOURCE_TOML)
    for file, message in (
        (bad_json, "is not valid JSON"),
        (bad_toml, "is not valid TOML"),
        (array, "must hold a JSON object or TOML keys"),
        (tmp_path / "missing.json", "cannot read"),
        (nameless, "the source needs a name"),
    ):
        result = cli("sources", "create", "--file", str(file))
        assert result.exit_code == 2, file
        assert message in result.stderr, result.stderr
    assert cli("sources", "create").exit_code == 2  # --file is required

    # an unknown id: the API's message
    for args in (
        ("sources", "show", "src_nope"),
        ("sources", "delete", "src_nope"),
        ("sources", "update", "src_nope", "--file", str(nameless), "--name", "x"),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr == "hookgate: no such resource [not_found]\n", args

    # an invalid source: the 422 message names the field, and no secret is echoed
    no_secret = tmp_path / "no-secret.json"
    no_secret.write_text(json.dumps({k: v for k, v in SOURCE.items() if k != "forward_secret"}))
    result = cli("sources", "create", "--file", str(no_secret))
    assert result.exit_code == 1
    assert result.stderr.startswith("hookgate: the request is invalid (forward_secret: ")
    assert "[validation_error]" in result.stderr
    insecure = tmp_path / "insecure.json"
    insecure.write_text(json.dumps({**SOURCE, "name": "cli-insecure", "forward_to": "http://app.example/h"}))
    result = cli("sources", "create", "--file", str(insecure))
    assert result.exit_code == 1
    assert "must use https" in result.stderr
    assert "[invalid]" in result.stderr
    bad_path = tmp_path / "bad-path.json"
    bad_path.write_text(json.dumps({**SOURCE, "name": "cli-bad-path", "path": "/elsewhere"}))
    result = cli("sources", "create", "--file", str(bad_path))
    assert result.exit_code == 1
    assert "path: " in result.stderr
    for output in (result.stdout, result.stderr):
        _no_secrets(output)


def test_tokens(cli: Callable[..., Result], server: Server) -> None:
    cli("apps", "create", "Tok", "--id", "tok-app")
    created = cli("tokens", "create", "ci", "--scope", "tok-app")
    assert created.exit_code == 0, created.stderr
    first_line, token_line = created.stdout.splitlines()
    assert first_line.startswith("created token tok_")
    assert first_line.endswith(" (ci, scope tok-app)")
    assert token_line.startswith("token (shown once, store it now): ")
    token_id = first_line.split()[2]
    secret = token_line.rsplit(" ", 1)[1]

    # the new token works, for its application only
    assert ok_json(cli("apps", "show", "tok-app", "--json", HOOKGATE_TOKEN=secret))["id"] == "tok-app"
    assert cli("tokens", "list", HOOKGATE_TOKEN=secret).exit_code == 1

    admin = ok_json(cli("tokens", "create", "ops", "--scope", "admin", "--json"))
    assert admin["token"]["scope"] == "admin"
    assert admin["secret"]

    listed = ok_json(cli("tokens", "list", "--json"))
    assert {token_id, admin["token"]["id"]} <= {t["id"] for t in listed}
    table = cli("tokens", "list")
    assert token_id in table.stdout
    assert "tok-app" in table.stdout
    assert secret not in table.stdout
    assert admin["secret"] not in table.stdout
    assert server.token not in table.stdout

    assert cli("tokens", "revoke", token_id).stdout == f"token {token_id} revoked\n"
    revoked = ok_json(cli("tokens", "revoke", admin["token"]["id"], "--json"))
    assert revoked["revoked_at"] is not None
    result = cli("apps", "show", "tok-app", HOOKGATE_TOKEN=secret)
    assert result.exit_code == 1
    assert "a valid bearer token is required" in result.stderr

    # errors: an unknown id, an unknown application, a missing scope
    result = cli("tokens", "revoke", "tok_nope")
    assert result.exit_code == 1
    assert result.stderr == "hookgate: no such resource [not_found]\n"
    assert cli("tokens", "create", "x", "--scope", "no-such-app").exit_code == 1
    assert cli("tokens", "create", "x").exit_code == 2


# -- listen --------------------------------------------------------------------------------------------


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)


def test_listen_verifies_and_refuses(cli: Callable[..., Result]) -> None:
    secret, _ = registry.generate_key("hmac")
    port = free_port()
    body = json.dumps({"hello": "world"}).encode()
    signed = registry.build_signer("standard-webhooks", [secret], []).sign(
        body, msg_id=registry.new_message_id(), now=time.time()
    )
    answers: list[int] = []

    def send() -> None:
        _wait_port(port)
        url = f"http://127.0.0.1:{port}/hook"
        with httpx.Client(timeout=10) as client:
            answers.append(client.post(url, content=body, headers=signed.headers).status_code)
            bad = dict(signed.headers)
            answers.append(client.post(url, content=body + b" ", headers=bad).status_code)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        result = cli(
            "listen",
            "--port",
            str(port),
            "--scheme",
            "standard-webhooks",
            "--secret",
            secret,
            "--max-requests",
            "2",
        )
    finally:
        sender.join(15)
    assert result.exit_code == 0, result.stderr
    assert answers == [200, 401]
    out = result.stdout
    assert f"listening on http://127.0.0.1:{port}/" in out
    assert "verified POST /hook" in out
    assert '"hello": "world"' in out
    assert "refused POST /hook" in out
    assert "signature" in out
    assert secret not in out


def test_listen_usage_errors(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("listen", "--port", str(free_port()), "--scheme", "standard-webhooks")
    assert result.exit_code == 2
    result = cli("listen", "--port", "1", "--scheme", "jws", "--key", str(tmp_path / "missing.pem"))
    assert result.exit_code == 2
    assert "cannot read key file" in result.stderr
    # a JWE receiver needs the sender's keys (anyone can encrypt to us), or says it takes unsigned ones
    private = tmp_path / "receiver.pem"
    private.write_text(generate_key("rsa"), encoding="utf-8")
    result = cli("listen", "--port", "1", "--scheme", "jwe", "--key", str(private))
    assert result.exit_code == 2
    assert "sender's public keys" in result.stderr
    result = cli(
        "listen", "--port", "1", "--scheme", "jws", "--key", str(private), "--sender-key", str(private)
    )
    assert result.exit_code == 2
    assert "only for scheme jwe" in result.stderr


# -- bulk resend ---------------------------------------------------------------------------------------


@dataclass
class FlakyReceiver:
    url: str
    ok: threading.Event
    hits: list[int] = field(default_factory=list)


@pytest.fixture
def flaky_receiver() -> Iterator[FlakyReceiver]:
    """Answers 500 until ``ok`` is set, then 200."""
    ok = threading.Event()
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = 200 if ok.is_set() else 500
            hits.append(code)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield FlakyReceiver(f"http://127.0.0.1:{httpd.server_address[1]}/hook", ok, hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_bulk_resend(cli: Callable[..., Result], server: Server, flaky_receiver: FlakyReceiver) -> None:
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
        flaky_receiver.ok.set()
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
        assert flaky_receiver.hits.count(200) == 3


def test_bulk_resend_all_at_once(
    cli: Callable[..., Result], server: Server, flaky_receiver: FlakyReceiver
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
        flaky_receiver.ok.set()  # from now on the receiver accepts: a resent delivery cannot go dead again

        bulk = ok_json(
            cli("resend", app, "--endpoint", endpoint_id, "--status", "dead", "--all", "--yes", "--json")
        )
        assert bulk["resent"] == 3
        assert set(bulk["ids"]) == set(statuses())
        assert all(s in {"pending", "in_flight", "failed", "delivered"} for s in statuses().values())
        wait_for(lambda: set(statuses().values()) == {"delivered"})
        assert flaky_receiver.hits.count(200) == 3

        # the single-delivery form still works
        one = next(iter(bulk["ids"]))
        single = cli("resend", app, one)
        assert single.exit_code == 0, single.stderr
        assert single.stdout.startswith(f"delivery {one} queued again (")


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


def test_apps_update(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "Before", "--id", "rename-app")
    result = cli("apps", "update", "rename-app", "--name", "After")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "renamed application rename-app to After"
    assert ok_json(cli("apps", "show", "rename-app", "--json"))["name"] == "After"
    assert cli("apps", "update", "no-such-app", "--name", "x").exit_code == 1


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
