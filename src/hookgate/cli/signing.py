"""The local signing tools: ``sign`` and ``verify`` a webhook by hand, ``keys`` and ``jwks`` for key files.

``verify`` exits 0 when the request is genuine (the verified payload on stdout), 1 when it is not (a one-line
reason on stderr), 2 on a usage or configuration error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from hookgate.cli._common import fail, parse_headers, read_keys, sender_key_option, token_flags
from hookgate.config.rules import validate_event_type
from hookgate.errors import HookgateError, VerificationError
from hookgate.schemes import registry as cli_schemes
from hookgate.schemes._base import EventSigner

__all__ = ["jwks", "keys", "sign", "verify"]


def _read_body(body_file: Path | None) -> bytes:
    if body_file is None or str(body_file) == "-":
        return sys.stdin.buffer.read()
    try:
        return body_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read body file {body_file}: {exc.strerror}", 2)


_scheme_option = click.option(
    "--scheme",
    required=True,
    type=click.Choice(cli_schemes.SCHEME_NAMES),
    help="Which scheme to use.",
)
_secret_option = click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="A shared secret (repeat for rotation: any of them). For basic: 'id:secret'.",
)
_key_option = click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A key file, PEM or JWK (repeat for rotation: any of them).",
)
_body_option = click.option(
    "--body-file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="The raw body (default: standard input).",
)


def _scheme_options(func: click.decorators.FC) -> click.decorators.FC:
    """Options that only some schemes read; giving one to a scheme that does not read it is an error."""
    options = [
        click.option(
            "--header-name", help="Header carrying the signature or credential (hmac, api-key, ...)."
        ),
        click.option("--algorithm", type=click.Choice(["sha256", "sha512"]), help="hmac: digest algorithm."),
        click.option("--encoding", type=click.Choice(["hex", "base64"]), help="hmac: signature encoding."),
        click.option("--prefix", help="hmac: text before the signature, e.g. 'sha256='."),
        click.option(
            "--alg", help="jws/jwe: JOSE algorithm (RS256, ES256, EdDSA; RSA-OAEP-256, ECDH-ES+A256KW)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_scheme_option
@_secret_option
@_key_option
@click.option("--header", "raw_headers", multiple=True, help="A request header, 'Name: value' (repeatable).")
@_body_option
@click.option("--now", type=int, help="Current time as Unix seconds (default: the clock).")
@click.option(
    "--tolerance", type=click.IntRange(min=0), help="Accepted timestamp skew in seconds (default 300)."
)
@click.option("--issuer", help="jwt-hs256/jws/jwe: the iss claim the token must carry.")
@click.option("--audience", help="jwt-hs256/jws/jwe: the aud claim the token must carry.")
@click.option(
    "--allow-no-exp",
    is_flag=True,
    help="jwt-hs256/jws/jwe: accept a token without exp (hookgate's own JWS/JWE payloads carry none).",
)
@sender_key_option
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="jwe: accept a JWE without an inner JWS (it proves nothing about who made it).",
)
@_scheme_options
def verify(
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    raw_headers: tuple[str, ...],
    body_file: Path | None,
    now: int | None,
    tolerance: int | None,
    issuer: str | None,
    audience: str | None,
    allow_no_exp: bool,
    sender_key_files: tuple[Path, ...],
    allow_unsigned: bool,
    **options: str | None,
) -> None:
    """Verify a webhook: exit 0 and print the verified payload, or exit 1 with the reason."""
    headers = parse_headers(raw_headers)
    keys = read_keys(key_files)
    sender_keys = read_keys(sender_key_files)
    body = _read_body(body_file)
    claim_options = {
        "issuer": issuer,
        "audience": audience,
        **token_flags(allow_no_exp=allow_no_exp, allow_unsigned=allow_unsigned),
    }
    try:
        verifier = cli_schemes.build_verifier(
            scheme,
            secrets,
            keys,
            tolerance=tolerance,
            options={**options, **claim_options},
            sender_keys=sender_keys,
        )
    except HookgateError as exc:
        fail(str(exc), 2)
    try:
        verified = verifier.verify(body, headers, now=time.time() if now is None else now)
    except VerificationError as exc:
        fail(f"invalid: {exc}", 1)
    sys.stdout.buffer.write(verified.payload)
    sys.stdout.buffer.flush()


@click.command()
@_scheme_option
@_secret_option
@_key_option
@click.option("--id", "msg_id", help="Message id (default: a new random id).")
@click.option("--timestamp", type=int, help="Signing time as Unix seconds (default: the clock).")
@click.option(
    "--event-type", help="github/shopify: the event type, sent as X-GitHub-Event / X-Shopify-Topic."
)
@_body_option
@_scheme_options
def sign(
    scheme: str,
    secrets: tuple[str, ...],
    key_files: tuple[Path, ...],
    msg_id: str | None,
    timestamp: int | None,
    event_type: str | None,
    body_file: Path | None,
    **options: str | None,
) -> None:
    """Sign a body: print the headers to add, one 'Name: value' per line (JWS/JWE: the token)."""
    keys = read_keys(key_files)
    body = _read_body(body_file)
    now = time.time() if timestamp is None else timestamp
    msg_id = msg_id or cli_schemes.new_message_id()
    try:
        signer = cli_schemes.build_signer(scheme, secrets, keys, options=options)
        if event_type is not None and isinstance(signer, EventSigner):
            signed = signer.sign_event(
                body, msg_id=msg_id, event_type=validate_event_type(event_type), created_at=now, now=now
            )
        else:
            signed = signer.sign(body, msg_id=msg_id, now=now)
    except HookgateError as exc:
        fail(str(exc), 2)
    if cli_schemes.body_is_token(scheme):
        click.echo(signed.body.decode("ascii"))
    for name, value in signed.headers.items():
        click.echo(f"{name}: {value}")


@click.group()
def keys() -> None:
    """Generate and inspect keys."""


@keys.command("generate")
@click.option("--type", "key_type", required=True, type=click.Choice(["hmac", "ed25519", "rsa", "ec"]))
@click.option(
    "--public-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the public key (PEM) to this file (asymmetric types).",
)
def keys_generate(key_type: str, public_out: Path | None) -> None:
    """Print a new key: a whsec_ secret for hmac, a PEM private key otherwise."""
    try:
        private_text, public_text = cli_schemes.generate_key(key_type)
    except HookgateError as exc:
        fail(str(exc), exc.exit_code)
    if public_out is not None:
        if public_text is None:
            fail("--public-out needs an asymmetric key type", 2)
        public_out.write_text(public_text, encoding="ascii")
    click.echo(private_text.rstrip("\n"))


@keys.command("public")
@click.argument("key_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def keys_public(key_file: Path) -> None:
    """Print the public half (PEM) of a private key file."""
    try:
        click.echo(cli_schemes.public_pem(key_file.read_bytes()).rstrip("\n"))
    except HookgateError as exc:
        fail(str(exc), exc.exit_code)


@click.command()
@click.argument("public_keys", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def jwks(public_keys: tuple[Path, ...]) -> None:
    """Print a JWKS document (public members only, RFC 7638 kids) for the given key files."""
    try:
        document = cli_schemes.jwks_document(read_keys(public_keys))
    except HookgateError as exc:
        fail(str(exc), exc.exit_code)
    click.echo(json.dumps(document, indent=2))
