"""``hookgate demo``: the whole demo as a real process, and the receiver-side checks it relies on."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hookgate.demo import (
    CLIENT_CN,
    EVENTS,
    Row,
    Setup,
    TokenIssuer,
    build_rows,
    make_pki,
    peer_common_name,
    render_plain,
)
from hookgate.keys import generate_key
from hookgate.schemes.credentials import BasicSigner
from hookgate.schemes.jose import JwsSigner
from hookgate.schemes.registry import jwks_document
from hookgate.schemes.standard_webhooks import StandardWebhooksSigner

ROW_TITLES = (
    "Standard Webhooks (HMAC-SHA256)",
    "Standard Webhooks (Ed25519)",
    "API key + HMAC signature",
    "HTTP Basic",
    "OAuth2 client credentials",
    "JWT bearer (HS256, body hash)",
    "JWS payload (key ring, JWKS)",
    "JWE payload (RSA, sign-then-encrypt)",
    "mTLS (client certificate)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_once_verifies_every_scheme(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [
            sys.executable,
            "-m",
            "hookgate",
            "demo",
            "--once",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("admin API token:  hgk_") for line in lines), proc.stdout
    assert any(line.startswith("hookgate API:     http://127.0.0.1:") for line in lines), proc.stdout
    for title in ROW_TITLES:
        (row,) = [line for line in lines if line.startswith(title)]
        assert "verified" in row, row
        assert "REFUSED" not in row, row
    assert f"all {len(ROW_TITLES)} schemes verified" in proc.stdout
    assert time.monotonic() - started < 90
    assert (tmp_path / "data" / "hookgate.db").exists()


# -- the receiver-side checks, in process -----------------------------------------------------------


@pytest.fixture(scope="module")
def jws_key() -> str:
    return generate_key("ec")


@pytest.fixture(scope="module")
def rows(jws_key: str) -> dict[str, tuple[Row, dict[str, Any]]]:
    setup = Setup(
        "http://127.0.0.1:1",
        "https://127.0.0.1:2",
        "http://127.0.0.1:3/token",
        make_pki(),
        jwks_document([jws_key.encode()]),
    )
    built = build_rows(setup, TokenIssuer("client", "secret"))
    return {row.key: (row, options) for row, options in built}


BODY = b'{"order":1001,"total":"42.00","currency":"EUR"}'


def test_every_row_is_listed(rows: dict[str, tuple[Row, dict[str, Any]]]) -> None:
    assert tuple(r.title for r, _ in rows.values()) == ROW_TITLES
    assert json.loads(BODY) == EVENTS[0][1]  # a demo event: every check also parses the payload


def test_hmac_row_accepts_the_signature_and_refuses_a_tampered_body(
    rows: dict[str, tuple[Row, dict[str, Any]]],
) -> None:
    row, options = rows["hmac"]
    signed = StandardWebhooksSigner([options["secret"]]).sign(BODY, msg_id="msg_1", now=time.time())
    assert row.record(signed.headers, BODY, None)
    assert not row.record(signed.headers, BODY.replace(b"1001", b"1002"), None)
    assert (row.verified, row.refused) == (1, 1)
    assert row.verdict.startswith("verified 1, refused 1")


def test_basic_row(rows: dict[str, tuple[Row, dict[str, Any]]]) -> None:
    row, options = rows["basic"]
    good = BasicSigner("demo", options["auth"]["password"]).sign(BODY, msg_id="m", now=0)
    bad = BasicSigner("demo", "wrong").sign(BODY, msg_id="m", now=0)
    headers = {k.lower(): v for k, v in good.headers.items()}
    assert row.record(headers, BODY, None)
    assert not row.record({k.lower(): v for k, v in bad.headers.items()}, BODY, None)
    assert "bad_credentials" in row.last_refusal or "did not match" in row.last_refusal


def test_jws_row_checks_against_the_jwks(rows: dict[str, tuple[Row, dict[str, Any]]], jws_key: str) -> None:
    row, _ = rows["jws"]
    token = JwsSigner(jws_key).sign(BODY, msg_id="m", now=0).body
    assert row.record({}, token, None)
    assert "ES256" in row.detail
    other = JwsSigner(generate_key("ec")).sign(BODY, msg_id="m", now=0).body
    assert not row.record({}, other, None)  # a key not in the JWKS
    assert not row.record({}, BODY, None)  # plaintext instead of a JWS


def test_mtls_row_needs_the_demo_client_certificate(rows: dict[str, tuple[Row, dict[str, Any]]]) -> None:
    row, _ = rows["mtls"]
    assert not row.record({}, BODY, None)
    other = {"subject": ((("commonName", "someone-else"),),)}
    assert not row.record({}, BODY, other)
    demo_client = {"subject": ((("organizationName", "x"),), (("commonName", CLIENT_CN),))}
    assert peer_common_name(demo_client) == CLIENT_CN
    assert row.record({}, BODY, demo_client)


def test_token_issuer() -> None:
    issuer = TokenIssuer("client id", "s3:cr/t")
    basic = "Basic " + base64.b64encode(b"client+id:s3%3Acr%2Ft").decode()
    status, answer = issuer.issue(basic, {"grant_type": "client_credentials"}, now=time.time())
    assert status == 200
    token = answer["access_token"]
    assert issuer.check({"authorization": f"Bearer {token}"}, b"", None)
    with pytest.raises(PermissionError):
        issuer.check({"authorization": "Bearer forged"}, b"", None)
    wrong = "Basic " + base64.b64encode(b"client+id:nope").decode()
    assert issuer.issue(wrong, {"grant_type": "client_credentials"}, now=0)[0] == 401
    assert issuer.issue(basic, {"grant_type": "password"}, now=0)[0] == 400
    issuer.issued[token] = time.time() - 1
    with pytest.raises(PermissionError, match="expired"):
        issuer.check({"authorization": f"Bearer {token}"}, b"", None)


def test_render_plain_lists_every_row(rows: dict[str, tuple[Row, dict[str, Any]]]) -> None:
    listed = [r for r, _ in rows.values()]
    text = render_plain(listed, set())
    assert text.splitlines()[0].split() == ["scheme", "endpoint", "delivered", "receiver", "verdict"]
    assert len(text.splitlines()) == 2 + len(ROW_TITLES)
