"""`json_http_protocol`: a real uvicorn server on loopback answers requests it cannot parse with our JSON.

Raw bytes over a socket (no HTTP client would send them): a malformed request line, a broken header, a bad
Content-Length. Both of uvicorn's HTTP/1.1 implementations are covered where installed (httptools is
optional; h11 always is). Well-formed requests still reach the application.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from hookgate.errors import ConfigError
from hookgate.inbound.http_protocol import json_http_protocol
from hookgate.runtime import SignalFreeServer

BODY = b'{"error":"bad_request"}'
IMPLEMENTATIONS = [
    "h11",
    pytest.param(
        "httptools",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("httptools") is None, reason="httptools not installed"
        ),
    ),
]
MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "bad Content-Length": b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
    "space in header name": b"POST /in HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "NUL in target": b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(protocol: type[asyncio.Protocol]) -> AsyncIterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=protocol, lifespan="off", log_config=None, access_log=False
    )
    server = SignalFreeServer(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                assert not task.done(), "the server did not start"
                await asyncio.sleep(0.01)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await task


@dataclass
class RawAnswer:
    status_line: bytes
    headers: dict[bytes, bytes]
    body: bytes


async def exchange(port: int, data: bytes) -> RawAnswer:
    """Send raw bytes; read the answer until the server closes the connection."""
    async with asyncio.timeout(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(status_line, headers, body)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
async def test_unparseable_request_gets_the_json_body(implementation: str, request_bytes: bytes) -> None:
    async with serving(json_http_protocol(BODY, implementation=implementation)) as port:
        answer = await exchange(port, request_bytes)
    assert answer.status_line == b"HTTP/1.1 400 Bad Request"
    assert answer.headers[b"content-type"] == b"application/json"
    assert answer.headers[b"content-length"] == str(len(BODY)).encode()
    assert answer.headers[b"connection"] == b"close"
    assert answer.body == BODY


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
async def test_well_formed_requests_still_reach_the_application(implementation: str) -> None:
    async with serving(json_http_protocol(BODY, implementation=implementation)) as port:
        answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.status_line == b"HTTP/1.1 200 OK"
    assert answer.body == b"ok"


async def test_uvicorns_own_answer_is_plain_text() -> None:
    """What the protocol class replaces (so the tests above can tell the difference)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    async with serving(H11Protocol) as port:
        answer = await exchange(port, MALFORMED["request line"])
    assert answer.status_line == b"HTTP/1.1 400 Bad Request"
    assert answer.headers[b"content-type"].startswith(b"text/plain")
    assert answer.body == b"Invalid HTTP request received."


def test_unknown_implementation_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown HTTP implementation 'zttp'"):
        json_http_protocol(BODY, implementation="zttp")
    if importlib.util.find_spec("httptools") is None:
        with pytest.raises(ConfigError, match="httptools HTTP implementation is not installed"):
            json_http_protocol(BODY, implementation="httptools")
