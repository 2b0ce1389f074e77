"""``hookgate listen``: a local webhook receiver that verifies each POST with a scheme and prints it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import click
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
    except KeyboardInterrupt:
        return
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


async def _listen(verifier: Verifier, host: str, port: int, max_requests: int | None) -> None:
    from aiohttp import web

    console = make_console()
    done = asyncio.Event()
    handled = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal handled
        body = await request.read()
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        try:
            verified = verifier.verify(body, request.headers, now=time.time())
        except VerificationError as exc:
            console.print(
                f"{stamp} [red]refused[/red] POST {request.path_qs} from {request.remote}: "
                f"{exc.reason} ({exc})",
                highlight=False,
            )
            response = web.json_response({"error": "unauthorized"}, status=401)
        else:
            details = " ".join(
                f"{k}={v}"
                for k, v in (("msg_id", verified.msg_id), ("key", verified.key_id))
                if v is not None
            )
            console.print(
                f"{stamp} [green]verified[/green] POST {request.path_qs} {details}".rstrip(), highlight=False
            )
            try:
                console.print(JSON(verified.payload.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                console.print(repr(verified.payload[:2000]), markup=False, highlight=False)
            response = web.json_response({"status": "ok"})
        handled += 1
        if max_requests is not None and handled >= max_requests:
            done.set()
        return response

    async def other(request: web.Request) -> web.Response:
        return web.json_response({"error": "method not allowed"}, status=405, headers={"Allow": "POST"})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", receive)
    app.router.add_route("*", "/{tail:.*}", other)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        console.print(f"listening on http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
        await done.wait()
        await asyncio.sleep(0.05)  # let the last answer reach its sender before the listener closes
    finally:
        await runner.cleanup()
