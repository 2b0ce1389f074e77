"""``hookgate serve`` as a real process: first-start admin token, HTTP API, restart, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hookgate.crypto import generate_master_key
from tests.cli.conftest import READY_LINE, TOKEN_LINE, child_env
from tests.support import free_port, postgres_dsn

pytestmark = pytest.mark.slow


@dataclass
class Run:
    lines: list[str]
    token: str | None
    base: str
    proc: asyncio.subprocess.Process


async def start(data_dir: Path, env: dict[str, str]) -> Run:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookgate",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    err = await proc.stderr.read() if proc.stderr else b""
                    pytest.fail(f"serve exited early: {lines} {err.decode()}")
                line = raw.decode().rstrip("\n")
                lines.append(line)
                match = READY_LINE.match(line)
                if match:
                    assert int(match.group(1)) == port
                    break
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    tokens = [m.group(1) for m in map(TOKEN_LINE.match, lines) if m]
    assert len(tokens) <= 1, lines
    return Run(lines, tokens[0] if tokens else None, f"http://127.0.0.1:{port}", proc)


async def stop(run: Run) -> str:
    """SIGTERM; the process must exit 0. Returns the rest of its stdout."""
    run.proc.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(run.proc.communicate(), 30)
    finally:
        if run.proc.returncode is None:
            run.proc.kill()
            await run.proc.wait()
    assert run.proc.returncode == 0, err.decode()
    return out.decode()


async def check_api(run: Run, token: str) -> None:
    async with httpx.AsyncClient(base_url=run.base, timeout=10) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/api/v1/applications")).status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        apps = await client.get("/api/v1/applications", headers=headers)
        assert apps.status_code == 200
        assert "items" in apps.json()
        created = await client.post("/api/v1/applications", json={"name": "x"}, headers=headers)
        assert created.status_code == 201
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert len(jwks["keys"]) == 1


async def serve_twice(data_dir: Path, env: dict[str, str]) -> None:
    first = await start(data_dir, env)
    try:
        assert first.token is not None, first.lines
        await check_api(first, first.token)
    finally:
        rest = await stop(first)
    assert "admin API token" not in rest
    assert sum("admin API token" in line for line in first.lines) == 1

    second = await start(data_dir, env)
    try:
        assert second.token is None, second.lines
        assert not any("admin API token" in line for line in second.lines)
        await check_api(second, first.token)  # the first token still works after a restart
        async with httpx.AsyncClient(base_url=second.base, timeout=10) as client:
            apps = await client.get(
                "/api/v1/applications", headers={"Authorization": f"Bearer {first.token}"}
            )
            assert len(apps.json()["items"]) == 2  # one per run: the first one persisted
    finally:
        rest = await stop(second)
    assert "admin API token" not in rest


async def test_serve_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await serve_twice(data_dir, child_env())
    assert (data_dir / "master.key").exists()


async def raw_exchange(base: str, data: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Raw bytes to the server (what no HTTP client sends); the answer read until the server closes."""
    host, port = base.removeprefix("http://").split(":")
    async with asyncio.timeout(30):
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    return status_line, headers, body


async def test_serve_answers_every_error_in_one_shape(tmp_path: Path) -> None:
    run = await start(tmp_path / "data", child_env())
    try:
        # uvicorn itself answers a request it cannot parse: in the API's error shape, not plain text
        status, headers, body = await raw_exchange(run.base, b"GARBAGE / HTTP/9\r\n\r\n")
        assert status == b"HTTP/1.1 400 Bad Request"
        assert headers[b"content-type"] == b"application/json"
        assert json.loads(body) == {
            "error": {"code": "bad_request", "message": "the HTTP request could not be parsed"}
        }
        # a WebSocket upgrade is an ordinary request: nothing here speaks WebSocket
        upgrade = (
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        status, headers, body = await raw_exchange(run.base, upgrade)
        assert status == b"HTTP/1.1 404 Not Found"
        assert json.loads(body) == {"error": {"code": "not_found", "message": "no such resource"}}
        async with httpx.AsyncClient(base_url=run.base, timeout=10) as client:
            missing = await client.get("/nope")
            assert missing.json() == {"error": {"code": "not_found", "message": "no such resource"}}
            wrong = await client.delete("/healthz")
            assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
            assert wrong.headers["allow"] == "GET"
            # the receiving side keeps its own generic body for webhook senders
            inbound = await client.post("/inbound/nope", content=b"{}")
            assert (inbound.status_code, inbound.json()) == (404, {"error": "not_found"})
    finally:
        await stop(run)


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async for dsn in postgres_dsn():
        yield dsn


@pytest.mark.postgres
async def test_serve_postgres(tmp_path: Path, pg_dsn: str) -> None:
    env = child_env(HOOKGATE_DATABASE_URL=pg_dsn, HOOKGATE_MASTER_KEY=generate_master_key())
    await serve_twice(tmp_path / "data", env)
    assert not (tmp_path / "data" / "master.key").exists()


async def test_serve_prints_the_console_url_and_the_console_answers(tmp_path: Path) -> None:
    run = await start(tmp_path / "data", child_env())
    try:
        assert f"Console: {run.base}/ui/" in run.lines
        async with httpx.AsyncClient(base_url=run.base, timeout=10) as client:
            login = await client.get("/ui/login")
        assert login.status_code == 200
        assert "<form" in login.text
    finally:
        await stop(run)
