"""The scenarios' receiver-side checks, in process: each accepts what hookgate sends and refuses the rest."""

from __future__ import annotations

import json
import time
from typing import Any

from hookgate.demo.pki import CLIENT_CN
from hookgate.demo.receivers import peer_common_name
from hookgate.demo.scenarios import EVENTS, Row
from hookgate.keys import generate_key
from hookgate.schemes.credentials import BasicSigner
from hookgate.schemes.jose import JwsSigner
from hookgate.schemes.standard_webhooks import StandardWebhooksSigner
from tests.demo._rows import BODY, ROW_TITLES


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
