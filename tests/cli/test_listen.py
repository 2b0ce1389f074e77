"""`hookgate listen`: a real local receiver verifying real signed requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from hookgate.keys import generate_key
from hookgate.schemes import registry
from tests.support import free_port

pytestmark = pytest.mark.slow


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


def test_listen_on_a_port_in_use_exits_2_with_a_hint(cli: Callable[..., Result]) -> None:
    secret, _ = registry.generate_key("hmac")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        result = cli("listen", "--port", str(port), "--scheme", "standard-webhooks", "--secret", secret)
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}: port {port} is in use; use --port" in result.stderr


def test_listen_stops_in_order_on_sigterm() -> None:
    # it used to leave SIGTERM to the default action (killed, no drain); now like every other server
    secret, _ = registry.generate_key("hmac")
    port = free_port()
    command = ["listen", "--port", str(port), "--scheme", "standard-webhooks", "--secret", secret]
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "hookgate", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert f"listening on http://127.0.0.1:{port}/" in first, first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "SIGTERM: stopping; waiting for open requests to finish" in out.decode()
