"""Shared by the CLI tests: a clean child environment, free ports, and for the API commands one real
``hookgate serve`` for the package and the CLI runner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hookgate.cli import main
from tests.support import free_port

QUIET = ("--log-level", "warning")
# settings a developer's shell may carry: a child process or a test must not inherit them
HOOKGATE_ENV = (
    "HOOKGATE_MASTER_KEY",
    "HOOKGATE_MASTER_KEY_FILE",
    "HOOKGATE_DATABASE_URL",
    "HOOKGATE_DATA_DIR",
    "HOOKGATE_CONFIG",
    "HOOKGATE_HOST",
    "HOOKGATE_PORT",
    "HOOKGATE_SSRF_ALLOWLIST",
    "HOOKGATE_WORKER_CONCURRENCY",
)
TOKEN_LINE = re.compile(r"^admin API token \(shown once, store it now\): (hgk_\S+)$")
READY_LINE = re.compile(r"^hookgate API on http://127\.0\.0\.1:(\d+)/api/v1")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HOOKGATE_ENV}
    env.update(extra)
    return env


@dataclass
class Server:
    base: str
    token: str


@pytest.fixture(scope="package")
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
