"""``hookgate listen``: a local webhook receiver that verifies each POST with a scheme and prints it.

It runs on the process runtime the other servers share (``hookgate.runtime``): Ctrl-C or SIGTERM lets the
open requests finish, a second one stops at once; a port in use exits 2 with a hint.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.json import JSON

from hookgate.cli._common import (
    fail,
    make_console,
    read_keys,
    sender_key_option,
    token_flags,
)
from hookgate.errors import HookgateError, VerificationError
from hookgate.schemes import Verifier
from hookgate.schemes import registry as schemes

if TYPE_CHECKING:  # the inbound layer loads only when a receiver starts, not with every command
    from hookgate.inbound.asgi import Receive, Scope, Send

__all__ = ["listen"]


@click.command("listen")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--scheme", required=True, type=click.Choice(schemes.SCHEME_NAMES), help="How senders sign.")
@click.option("--secret", "secrets", multiple=True, help="A shared secret (repeatable: any of them).")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A key file, PEM or JWK (repeatable).",
)
@sender_key_option
@click.option("--allow-unsigned", is_flag=True, help="jwe: accept JWEs without an inner JWS.")
@click.option(
    "--allow-no-exp", is_flag=True, help="jwt-hs256/jws/jwe: accept tokens without exp (hookgate's JWS)."
)
@click.option("--max-requests", type=click.IntRange(min=1), hidden=True)
def listen(
    port: int,
    host: str,
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    sender_key_files: tuple[Path, ...],
    allow_unsigned: bool,
    allow_no_exp: bool,
    max_requests: int | None,
) -> None:
    """A local webhook receiver: verify each POST and print it, until Ctrl-C (200 verified, 401 refused)."""
    keys = read_keys(key_files)
    sender_keys = read_keys(sender_key_files)
    options = token_flags(allow_no_exp=allow_no_exp, allow_unsigned=allow_unsigned)
    try:
        verifier = schemes.build_verifier(scheme, secrets, keys, options=options, sender_keys=sender_keys)
    except HookgateError as exc:
        fail(str(exc), 2)
    try:
        asyncio.run(_listen(verifier, host, port, max_requests))
    except HookgateError as exc:  # a port in use exits 2 (choose another --port); a forced stop 128 + signal
        fail(str(exc), exc.exit_code)


_MAX_BODY = 16 * 1024 * 1024


class _Receiver:
    """The ASGI app: verify each POST and print it; 401 for a refused one, 405 for other methods."""

    def __init__(self, verifier: Verifier, console: Console, handled: Callable[[], None]) -> None:
        from hookgate.inbound.asgi import headers_of, read_body

        self._headers_of = headers_of
        self._read_body = read_body
        self._verifier = verifier
        self._console = console
        self._handled = handled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "method not allowed"}, allow=b"POST")
            return
        body = await self._read_body(receive, _MAX_BODY)
        if body is None:
            await _answer(send, 413, {"error": "request body too large"})
            return
        path = scope.get("path", "/")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        client = scope.get("client")
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        console = self._console
        try:
            verified = self._verifier.verify(body, self._headers_of(scope), now=time.time())
        except VerificationError as exc:
            console.print(
                f"{stamp} [red]refused[/red] POST {path} from {client[0] if client else None}: "
                f"{exc.reason} ({exc})",
                highlight=False,
            )
            await _answer(send, 401, {"error": "unauthorized"})
        else:
            details = " ".join(
                f"{k}={v}"
                for k, v in (("msg_id", verified.msg_id), ("key", verified.key_id))
                if v is not None
            )
            console.print(f"{stamp} [green]verified[/green] POST {path} {details}".rstrip(), highlight=False)
            try:
                console.print(JSON(verified.payload.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                console.print(repr(verified.payload[:2000]), markup=False, highlight=False)
            await _answer(send, 200, {"status": "ok"})
        self._handled()


async def _answer(send: Send, status: int, document: dict[str, str], *, allow: bytes | None = None) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", b"%d" % len(body))]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _listen(verifier: Verifier, host: str, port: int, max_requests: int | None) -> None:
    import uvicorn

    from hookgate.inbound.http_protocol import json_http_protocol
    from hookgate.runtime import running

    console = make_console()
    handled = 0

    async with running(announce=lambda message: console.print(message, highlight=False)) as runtime:

        def count() -> None:
            nonlocal handled
            handled += 1
            if max_requests is not None and handled >= max_requests:
                runtime.request_stop()  # the answer still reaches its sender: the stop drains open requests

        config = uvicorn.Config(
            _Receiver(verifier, console, count),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            lifespan="off",
            http=json_http_protocol(b'{"error": "bad request"}'),
            ws="none",
        )
        listening = await runtime.serve(config, hint="use --port")
        console.print(f"listening on http://{host}:{listening}/ (Ctrl-C to stop)", highlight=False)
        await runtime.wait()
