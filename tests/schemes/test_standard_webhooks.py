"""Tests for the Standard Webhooks scheme: v1 HMAC-SHA256 and v1a Ed25519."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook as StdWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook

from hookgate.errors import KeyFormatError, MalformedError, SignatureError, TimestampError, VerificationError
from hookgate.keys import generate_key, load_key, parse_symmetric_secret, public_pem
from hookgate.schemes._base import Signed, Verified
from hookgate.schemes.standard_webhooks import (
    MAX_SIGNATURES,
    ONE_SHOT_LIMIT,
    StandardWebhooksEd25519Signer,
    StandardWebhooksEd25519Verifier,
    StandardWebhooksSigner,
    StandardWebhooksVerifier,
)

# The example from the Standard Webhooks specification / reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()

NOW = 1_700_000_000
BODY = b'{"type": "invoice.paid", "id": 42}'
MSG_ID = "msg_2b7Y5z"

NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


def _spec_headers(sig: str = SPEC_SIG) -> dict[str, str]:
    return {"webhook-id": SPEC_MSG_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": sig}


def _sign(
    secrets: list[str] | None = None, body: bytes = BODY, now: float = NOW, msg_id: str = MSG_ID
) -> Signed:
    return StandardWebhooksSigner(secrets or [OLD]).sign(body, msg_id=msg_id, now=now)


def _expected_b64(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = parse_symmetric_secret(secret).reveal()
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# One-secret verifiers take the inlined fast path, two-secret verifiers the general path; both must agree.
@pytest.fixture(params=["fast", "general"])
def verifier(request: pytest.FixtureRequest) -> StandardWebhooksVerifier:
    if request.param == "fast":
        return StandardWebhooksVerifier([OLD])
    return StandardWebhooksVerifier([OTHER, OLD])


# --- the specification vector ---


def test_spec_vector_sign() -> None:
    signed = StandardWebhooksSigner([SPEC_SECRET]).sign(SPEC_BODY, msg_id=SPEC_MSG_ID, now=SPEC_TS)
    assert signed.headers == _spec_headers()
    assert signed.body == SPEC_BODY
    assert signed.content_type is None


def test_spec_vector_sign_truncates_fractional_now() -> None:
    signed = StandardWebhooksSigner([SPEC_SECRET]).sign(SPEC_BODY, msg_id=SPEC_MSG_ID, now=SPEC_TS + 0.9)
    assert signed.headers["webhook-signature"] == SPEC_SIG
    assert signed.headers["webhook-timestamp"] == str(SPEC_TS)


@pytest.mark.parametrize("secrets", [[SPEC_SECRET], [OTHER, SPEC_SECRET]])
def test_spec_vector_verify(secrets: list[str]) -> None:
    result = StandardWebhooksVerifier(secrets).verify(SPEC_BODY, _spec_headers(), now=SPEC_TS)
    assert result == Verified(SPEC_BODY, SPEC_MSG_ID, SPEC_TS, str(len(secrets) - 1))


def test_spec_vector_wrong_secret_rejected() -> None:
    with pytest.raises(SignatureError) as info:
        StandardWebhooksVerifier([OTHER]).verify(SPEC_BODY, _spec_headers(), now=SPEC_TS)
    assert info.value.reason == "signature_mismatch"
    assert info.value.status_hint == 401


def test_spec_vector_independent_hmac() -> None:
    assert "v1," + _expected_b64(SPEC_SECRET, SPEC_MSG_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


# --- header names ---


def test_svix_header_names_round_trip(verifier: StandardWebhooksVerifier) -> None:
    signed = StandardWebhooksSigner([OLD], header_prefix="svix").sign(BODY, msg_id=MSG_ID, now=NOW)
    assert set(signed.headers) == {"svix-id", "svix-timestamp", "svix-signature"}
    result = verifier.verify(BODY, signed.headers, now=NOW)
    assert result.msg_id == MSG_ID
    assert result.timestamp == NOW
    assert result.payload == BODY


def test_svix_headers_with_spec_vector() -> None:
    headers = {k.replace("webhook", "svix"): v for k, v in _spec_headers().items()}
    result = StandardWebhooksVerifier([SPEC_SECRET]).verify(SPEC_BODY, headers, now=SPEC_TS)
    assert result.msg_id == SPEC_MSG_ID


@pytest.mark.parametrize(
    "transform",
    [str.title, str.upper, lambda n: n.replace("webhook", "Webhook"), lambda n: n.replace("webhook", "Svix")],
    ids=["title", "upper", "capitalised-prefix", "svix-capitalised"],
)
def test_mixed_case_header_names(verifier: StandardWebhooksVerifier, transform: object) -> None:
    signed = _sign()
    headers = {transform(k): v for k, v in signed.headers.items()}  # type: ignore[operator]
    assert "webhook-id" not in headers
    assert verifier.verify(BODY, headers, now=NOW).msg_id == MSG_ID


def test_mixed_case_only_on_timestamp_and_signature() -> None:
    signed = _sign()
    headers = {
        "webhook-id": signed.headers["webhook-id"],
        "Webhook-Timestamp": signed.headers["webhook-timestamp"],
        "Webhook-Signature": signed.headers["webhook-signature"],
    }
    assert StandardWebhooksVerifier([OLD]).verify(BODY, headers, now=NOW).msg_id == MSG_ID


def test_invalid_header_prefix_rejected() -> None:
    with pytest.raises(KeyFormatError):
        StandardWebhooksSigner([OLD], header_prefix="x-webhook")
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Signer([generate_key("ed25519")], header_prefix="stripe")


def test_empty_secret_lists_rejected() -> None:
    with pytest.raises(KeyFormatError):
        StandardWebhooksSigner([])
    with pytest.raises(KeyFormatError):
        StandardWebhooksVerifier([])
    with pytest.raises(KeyFormatError):
        StandardWebhooksVerifier([OLD], tolerance=-1)
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Signer([])
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Verifier([])


# --- rotation ---


def test_rotation_signer_emits_one_entry_per_secret() -> None:
    signed = _sign([OLD, NEW])
    entries = signed.headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    assert entries == [
        "v1," + _expected_b64(OLD, MSG_ID, NOW, BODY),
        "v1," + _expected_b64(NEW, MSG_ID, NOW, BODY),
    ]


@pytest.mark.parametrize(
    ("secrets", "key_id"),
    [
        ([OLD], "0"),
        ([NEW], "0"),
        ([OTHER, NEW], "1"),
        ([OTHER, OLD], "1"),
        ([OLD, NEW], "0"),
        ([NEW, OLD], "0"),
    ],
)
def test_rotation_any_held_secret_verifies(secrets: list[str], key_id: str) -> None:
    signed = _sign([OLD, NEW])
    result = StandardWebhooksVerifier(secrets).verify(BODY, signed.headers, now=NOW)
    assert result.key_id == key_id


def test_rotation_key_id_is_index_of_matching_secret() -> None:
    signed = _sign([NEW])
    result = StandardWebhooksVerifier([OTHER, OLD, NEW]).verify(BODY, signed.headers, now=NOW)
    assert result.key_id == "2"


def test_rotation_no_held_secret_rejected() -> None:
    signed = _sign([OLD, NEW])
    with pytest.raises(SignatureError):
        StandardWebhooksVerifier([OTHER]).verify(BODY, signed.headers, now=NOW)


def test_secret_objects_and_raw_strings_accepted() -> None:
    secret = parse_symmetric_secret(OLD)
    signed = StandardWebhooksSigner([secret]).sign(BODY, msg_id=MSG_ID, now=NOW)
    assert StandardWebhooksVerifier([OLD]).verify(BODY, signed.headers, now=NOW).key_id == "0"
    # a string without the whsec_ prefix is used as literal bytes, consistently on both sides
    raw_signed = StandardWebhooksSigner(["plain-secret"]).sign(BODY, msg_id=MSG_ID, now=NOW)
    assert StandardWebhooksVerifier([b"plain-secret"]).verify(BODY, raw_signed.headers, now=NOW)
    assert raw_signed.headers["webhook-signature"] != signed.headers["webhook-signature"]


# --- timestamp tolerance ---


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamp_inside_window_accepted(verifier: StandardWebhooksVerifier, offset: int) -> None:
    signed = _sign(now=NOW + offset)
    assert verifier.verify(BODY, signed.headers, now=NOW).timestamp == NOW + offset


@pytest.mark.parametrize(("offset", "reason"), [(-301, "timestamp_too_old"), (301, "timestamp_in_future")])
def test_timestamp_one_second_past_edge_rejected(
    verifier: StandardWebhooksVerifier, offset: int, reason: str
) -> None:
    signed = _sign(now=NOW + offset)
    with pytest.raises(TimestampError) as info:
        verifier.verify(BODY, signed.headers, now=NOW)
    assert info.value.reason == reason
    assert info.value.status_hint == 401


@pytest.mark.parametrize("secrets", [[OLD], [OTHER, OLD]])
def test_tolerance_parameter_honoured(secrets: list[str]) -> None:
    v = StandardWebhooksVerifier(secrets, tolerance=10)
    assert v.tolerance == 10
    assert v.verify(BODY, _sign(now=NOW - 10).headers, now=NOW).timestamp == NOW - 10
    assert v.verify(BODY, _sign(now=NOW + 10).headers, now=NOW).timestamp == NOW + 10
    with pytest.raises(TimestampError):
        v.verify(BODY, _sign(now=NOW - 11).headers, now=NOW)
    with pytest.raises(TimestampError):
        v.verify(BODY, _sign(now=NOW + 11).headers, now=NOW)


def test_zero_tolerance() -> None:
    v = StandardWebhooksVerifier([OLD], tolerance=0)
    assert v.verify(BODY, _sign(now=NOW).headers, now=NOW).timestamp == NOW
    with pytest.raises(TimestampError):
        v.verify(BODY, _sign(now=NOW).headers, now=NOW + 1)
    # a fractional verifier clock just past the signing second is outside a zero window
    with pytest.raises(TimestampError):
        v.verify(BODY, _sign(now=NOW).headers, now=NOW + 0.5)


def test_fractional_now_at_window_edge() -> None:
    v = StandardWebhooksVerifier([OLD])
    assert v.verify(BODY, _sign(now=NOW).headers, now=NOW + 300.0).timestamp == NOW
    with pytest.raises(TimestampError):
        v.verify(BODY, _sign(now=NOW).headers, now=NOW + 300.5)


# --- tampering ---


def test_tampered_body(verifier: StandardWebhooksVerifier) -> None:
    signed = _sign()
    with pytest.raises(SignatureError):
        verifier.verify(BODY + b" ", signed.headers, now=NOW)
    with pytest.raises(SignatureError):
        verifier.verify(b"", signed.headers, now=NOW)


def test_tampered_msg_id(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-id"] = MSG_ID + "x"
    with pytest.raises(SignatureError):
        verifier.verify(BODY, headers, now=NOW)


def test_tampered_timestamp_in_window(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-timestamp"] = str(NOW + 1)
    with pytest.raises(SignatureError):
        verifier.verify(BODY, headers, now=NOW)


def test_tampered_timestamp_out_of_window(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-timestamp"] = str(NOW - 3600)
    with pytest.raises(TimestampError):
        verifier.verify(BODY, headers, now=NOW)


def test_tampered_signature(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    sig = headers["webhook-signature"]
    headers["webhook-signature"] = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    with pytest.raises(SignatureError):
        verifier.verify(BODY, headers, now=NOW)


def test_signature_for_other_message_rejected(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-signature"] = _sign(msg_id="msg_other").headers["webhook-signature"]
    with pytest.raises(SignatureError):
        verifier.verify(BODY, headers, now=NOW)


def test_one_good_among_several_signatures_accepted(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    good = headers["webhook-signature"]
    bogus = "v1," + base64.b64encode(b"\0" * 32).decode()
    headers["webhook-signature"] = f"{bogus} v1a,{base64.b64encode(b'1' * 64).decode()} {good}"
    assert verifier.verify(BODY, headers, now=NOW).msg_id == MSG_ID


# --- malformed headers ---


def _assert_malformed(verifier: StandardWebhooksVerifier, headers: dict[str, str]) -> MalformedError:
    with pytest.raises(MalformedError) as info:
        verifier.verify(BODY, headers, now=NOW)
    assert info.value.status_hint == 400
    return info.value


@pytest.mark.parametrize("missing", NAMES)
def test_missing_header(verifier: StandardWebhooksVerifier, missing: str) -> None:
    headers = {k: v for k, v in _sign().headers.items() if k != missing}
    assert _assert_malformed(verifier, headers).reason == "missing_header"


def test_no_headers_at_all(verifier: StandardWebhooksVerifier) -> None:
    assert _assert_malformed(verifier, {}).reason == "missing_header"


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        "abc",
        "1700000000.0",
        "-1700000000",
        "+1700000000",
        " 1700000000",
        "1e9",
        "\u0661\u0667" + "\u0660" * 8,
        "1" * 13,
    ],
)
def test_non_integer_timestamp(verifier: StandardWebhooksVerifier, timestamp: str) -> None:
    headers = dict(_sign().headers)
    headers["webhook-timestamp"] = timestamp
    assert _assert_malformed(verifier, headers).reason == "bad_timestamp"


@pytest.mark.parametrize(
    "signature",
    [
        "v1",
        "v1,",
        "v1 v1,abc",
        "garbage",
        "v1,abc def",
        "v1,abc ,",
        "v1,é" + "A" * 43,
        "v1,abc v1,é",
    ],
)
def test_bad_signature_header(verifier: StandardWebhooksVerifier, signature: str) -> None:
    headers = dict(_sign().headers)
    headers["webhook-signature"] = signature
    assert _assert_malformed(verifier, headers).reason == "bad_signature_header"


def test_too_many_signatures(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    good = headers["webhook-signature"]
    bogus = "v1," + base64.b64encode(b"\0" * 32).decode()
    # MAX_SIGNATURES entries are fine (the last one is the good one) ...
    headers["webhook-signature"] = " ".join([bogus] * (MAX_SIGNATURES - 1) + [good])
    assert verifier.verify(BODY, headers, now=NOW).msg_id == MSG_ID
    # ... one more is refused before any MAC is computed
    headers["webhook-signature"] = " ".join([bogus] * MAX_SIGNATURES + [good])
    assert _assert_malformed(verifier, headers).reason == "bad_signature_header"


def test_overlong_signature_header(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-signature"] = headers["webhook-signature"] + "=" * 5000
    _assert_malformed(verifier, headers)


@pytest.mark.parametrize("msg_id", ["msg.1", ".", "", "m" * 257, "msg\n1", "msg\x001"])
def test_bad_msg_id_in_request(verifier: StandardWebhooksVerifier, msg_id: str) -> None:
    headers = dict(_sign().headers)
    headers["webhook-id"] = msg_id
    _assert_malformed(verifier, headers)


@pytest.mark.parametrize("msg_id", ["msg.1", "", "m" * 257, "msg\t1"])
def test_bad_msg_id_refused_by_signers(msg_id: str) -> None:
    with pytest.raises(MalformedError):
        StandardWebhooksSigner([OLD]).sign(BODY, msg_id=msg_id, now=NOW)
    with pytest.raises(MalformedError):
        StandardWebhooksSigner([OLD, NEW]).sign(BODY, msg_id=msg_id, now=NOW)
    with pytest.raises(MalformedError):
        StandardWebhooksEd25519Signer([generate_key("ed25519")]).sign(BODY, msg_id=msg_id, now=NOW)


def test_msg_id_at_max_length_accepted(verifier: StandardWebhooksVerifier) -> None:
    signed = _sign(msg_id="m" * 256)
    assert verifier.verify(BODY, signed.headers, now=NOW).msg_id == "m" * 256


def test_non_ascii_msg_id_round_trip(verifier: StandardWebhooksVerifier) -> None:
    signed = _sign(msg_id="msg_héllo")
    assert signed.headers["webhook-signature"] == "v1," + _expected_b64(OLD, "msg_héllo", NOW, BODY)
    assert verifier.verify(BODY, signed.headers, now=NOW).msg_id == "msg_héllo"


def test_only_v1a_signatures_is_signature_error(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    headers["webhook-signature"] = "v1a," + base64.b64encode(b"s" * 64).decode()
    with pytest.raises(SignatureError) as info:
        verifier.verify(BODY, headers, now=NOW)
    assert info.value.reason == "no_matching_version"


def test_unknown_versions_ignored_but_not_accepted(verifier: StandardWebhooksVerifier) -> None:
    headers = dict(_sign().headers)
    value = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = f"v2,{value} V1,{value}"
    with pytest.raises(SignatureError):
        verifier.verify(BODY, headers, now=NOW)


# --- large bodies: the streaming MAC path ---


@pytest.mark.parametrize(
    "size", [ONE_SHOT_LIMIT - 1, ONE_SHOT_LIMIT, ONE_SHOT_LIMIT + 1, 5 * ONE_SHOT_LIMIT + 7]
)
@pytest.mark.parametrize("secrets", [[OLD], [OLD, NEW]])
def test_large_bodies(verifier: StandardWebhooksVerifier, size: int, secrets: list[str]) -> None:
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    assert len(body) == size
    signed = _sign(secrets, body=body)
    assert signed.headers["webhook-signature"].split(" ")[0] == "v1," + _expected_b64(OLD, MSG_ID, NOW, body)
    assert verifier.verify(body, signed.headers, now=NOW).payload == body
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    with pytest.raises(SignatureError):
        verifier.verify(tampered, signed.headers, now=NOW)
    middle = bytearray(body)
    middle[size // 2] ^= 0x80
    with pytest.raises(SignatureError):
        verifier.verify(bytes(middle), signed.headers, now=NOW)


# --- interop with the reference libraries (they read the real clock) ---

JSON_BODY = b'{"event": "ping", "n": 1, "text": "caf\\u00e9"}'


def test_standardwebhooks_library_verifies_ours() -> None:
    now = time.time()
    signed = StandardWebhooksSigner([OLD]).sign(JSON_BODY, msg_id=MSG_ID, now=now)
    assert StdWebhook(OLD).verify(JSON_BODY, signed.headers) == {"event": "ping", "n": 1, "text": "café"}


def test_standardwebhooks_library_verifies_our_rotation_header() -> None:
    now = time.time()
    signed = StandardWebhooksSigner([OTHER, OLD]).sign(JSON_BODY, msg_id=MSG_ID, now=now)
    assert StdWebhook(OLD).verify(JSON_BODY, signed.headers, json_parse=False) is None
    with pytest.raises(WebhookVerificationError):
        StdWebhook(NEW).verify(JSON_BODY, signed.headers, json_parse=False)


def test_we_verify_standardwebhooks_library() -> None:
    now = time.time()
    ts = int(now)
    sig = StdWebhook(OLD).sign(MSG_ID, datetime.fromtimestamp(ts, tz=UTC), JSON_BODY.decode())
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(ts), "webhook-signature": sig}
    for v in (StandardWebhooksVerifier([OLD]), StandardWebhooksVerifier([NEW, OLD])):
        assert v.verify(JSON_BODY, headers, now=now).timestamp == ts
    with pytest.raises(SignatureError):
        StandardWebhooksVerifier([NEW]).verify(JSON_BODY, headers, now=now)


def test_svix_library_verifies_ours() -> None:
    now = time.time()
    for prefix in ("svix", "webhook"):
        signed = StandardWebhooksSigner([OLD], header_prefix=prefix).sign(JSON_BODY, msg_id=MSG_ID, now=now)
        assert SvixWebhook(OLD).verify(JSON_BODY, signed.headers) is None
        with pytest.raises(WebhookVerificationError):
            SvixWebhook(NEW).verify(JSON_BODY, signed.headers)


def test_we_verify_svix_library() -> None:
    now = time.time()
    ts = int(now)
    sig = SvixWebhook(OLD).sign(MSG_ID, datetime.fromtimestamp(ts, tz=UTC), JSON_BODY.decode())
    headers = {"svix-id": MSG_ID, "svix-timestamp": str(ts), "svix-signature": sig}
    assert StandardWebhooksVerifier([OLD]).verify(JSON_BODY, headers, now=now).msg_id == MSG_ID
    title = {k.title(): v for k, v in headers.items()}
    assert StandardWebhooksVerifier([NEW, OLD]).verify(JSON_BODY, title, now=now).key_id == "1"


def test_reference_library_agrees_on_spec_vector() -> None:
    sig = StdWebhook(SPEC_SECRET).sign(
        SPEC_MSG_ID, datetime.fromtimestamp(SPEC_TS, tz=UTC), SPEC_BODY.decode()
    )
    assert sig == SPEC_SIG


# --- Ed25519 (v1a) ---


@pytest.fixture(scope="module")
def ed_keys() -> list[tuple[str, str]]:
    """Three (private PEM, public PEM) pairs."""
    pairs = []
    for _ in range(3):
        pem = generate_key("ed25519")
        pairs.append((pem, public_pem(load_key(pem))))
    return pairs


def test_ed25519_round_trip(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    signed = StandardWebhooksEd25519Signer([private]).sign(BODY, msg_id=MSG_ID, now=NOW)
    sig = signed.headers["webhook-signature"]
    assert sig.startswith("v1a,")
    assert len(base64.b64decode(sig[4:], validate=True)) == 64
    assert signed.headers["webhook-timestamp"] == str(NOW)
    result = StandardWebhooksEd25519Verifier([public]).verify(BODY, signed.headers, now=NOW)
    assert result == Verified(BODY, MSG_ID, NOW, "0")


def test_ed25519_accepts_loaded_key_objects(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    signed = StandardWebhooksEd25519Signer([load_key(private)]).sign(BODY, msg_id=MSG_ID, now=NOW)
    assert (
        StandardWebhooksEd25519Verifier([load_key(public)]).verify(BODY, signed.headers, now=NOW).key_id
        == "0"
    )


def test_ed25519_svix_prefix(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    signed = StandardWebhooksEd25519Signer([private], header_prefix="svix").sign(BODY, msg_id=MSG_ID, now=NOW)
    assert set(signed.headers) == {"svix-id", "svix-timestamp", "svix-signature"}
    assert StandardWebhooksEd25519Verifier([public]).verify(BODY, signed.headers, now=NOW).msg_id == MSG_ID


def test_ed25519_wrong_public_key(ed_keys: list[tuple[str, str]]) -> None:
    signed = StandardWebhooksEd25519Signer([ed_keys[0][0]]).sign(BODY, msg_id=MSG_ID, now=NOW)
    with pytest.raises(SignatureError) as info:
        StandardWebhooksEd25519Verifier([ed_keys[1][1]]).verify(BODY, signed.headers, now=NOW)
    assert info.value.reason == "signature_mismatch"


def test_ed25519_tampering(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    v = StandardWebhooksEd25519Verifier([public])
    signed = StandardWebhooksEd25519Signer([private]).sign(BODY, msg_id=MSG_ID, now=NOW)
    with pytest.raises(SignatureError):
        v.verify(BODY + b"!", signed.headers, now=NOW)
    headers = dict(signed.headers)
    headers["webhook-id"] = "msg_other"
    with pytest.raises(SignatureError):
        v.verify(BODY, headers, now=NOW)
    headers = dict(signed.headers)
    headers["webhook-timestamp"] = str(NOW + 1)
    with pytest.raises(SignatureError):
        v.verify(BODY, headers, now=NOW)
    with pytest.raises(TimestampError):
        v.verify(BODY, signed.headers, now=NOW + 301)


def test_ed25519_rotation(ed_keys: list[tuple[str, str]]) -> None:
    (priv_a, pub_a), (priv_b, pub_b), (_, pub_c) = ed_keys
    signed = StandardWebhooksEd25519Signer([priv_a, priv_b]).sign(BODY, msg_id=MSG_ID, now=NOW)
    entries = signed.headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1a,") for e in entries)
    assert StandardWebhooksEd25519Verifier([pub_a]).verify(BODY, signed.headers, now=NOW).key_id == "0"
    assert StandardWebhooksEd25519Verifier([pub_b]).verify(BODY, signed.headers, now=NOW).key_id == "0"
    assert StandardWebhooksEd25519Verifier([pub_c, pub_b]).verify(BODY, signed.headers, now=NOW).key_id == "1"
    with pytest.raises(SignatureError):
        StandardWebhooksEd25519Verifier([pub_c]).verify(BODY, signed.headers, now=NOW)


def test_ed25519_malformed_signatures(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    v = StandardWebhooksEd25519Verifier([public])
    headers = dict(StandardWebhooksEd25519Signer([private]).sign(BODY, msg_id=MSG_ID, now=NOW).headers)
    for bad in ("v1a,not base64!", "v1a," + base64.b64encode(b"short").decode(), "v1a"):
        headers["webhook-signature"] = bad
        with pytest.raises(MalformedError):
            v.verify(BODY, headers, now=NOW)
    # an HMAC-only header carries no v1a signature at all
    headers["webhook-signature"] = _sign().headers["webhook-signature"]
    with pytest.raises(SignatureError) as info:
        v.verify(BODY, headers, now=NOW)
    assert info.value.reason == "no_matching_version"


def test_ed25519_wrong_key_kinds_rejected(ed_keys: list[tuple[str, str]]) -> None:
    _, public = ed_keys[0]
    ec_pem = generate_key("ec")
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Signer([ec_pem])
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Verifier([public_pem(load_key(ec_pem))])
    with pytest.raises(KeyFormatError):
        StandardWebhooksEd25519Signer([public])


def test_hmac_and_ed25519_in_one_header(ed_keys: list[tuple[str, str]]) -> None:
    private, public = ed_keys[0]
    hmac_signed = _sign()
    ed_signed = StandardWebhooksEd25519Signer([private]).sign(BODY, msg_id=MSG_ID, now=NOW)
    headers = dict(hmac_signed.headers)
    headers["webhook-signature"] = (
        f"{hmac_signed.headers['webhook-signature']} {ed_signed.headers['webhook-signature']}"
    )
    assert StandardWebhooksVerifier([OLD]).verify(BODY, headers, now=NOW).msg_id == MSG_ID
    assert StandardWebhooksEd25519Verifier([public]).verify(BODY, headers, now=NOW).msg_id == MSG_ID


# --- repr ---


def test_reprs_never_show_secrets(ed_keys: list[tuple[str, str]]) -> None:
    raw = parse_symmetric_secret(OLD).reveal()
    objects = [
        StandardWebhooksSigner([OLD, NEW]),
        StandardWebhooksVerifier([OLD, NEW]),
        StandardWebhooksSigner([OLD]),
        StandardWebhooksVerifier([OLD]),
    ]
    for obj in objects:
        text = repr(obj)
        assert "redacted" in text
        for needle in (OLD, NEW, OLD[6:], NEW[6:], str(raw), raw.decode("latin-1")):
            assert needle not in text
        assert not hasattr(obj, "__dict__")
    private, _ = ed_keys[0]
    ed_text = repr(StandardWebhooksEd25519Signer([private]))
    assert "PRIVATE" not in ed_text
    assert "redacted" in ed_text
    body_lines = [line for line in private.splitlines() if line and not line.startswith("-----")]
    assert all(line not in ed_text for line in body_lines)


# --- property tests ---

_HYP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_VERIFIERS = (StandardWebhooksVerifier([OLD]), StandardWebhooksVerifier([OTHER, OLD]))


def _mutate(text: str, index: int, replacement: str) -> str:
    index %= len(text)
    if text[index] == replacement:
        replacement = "0" if replacement != "0" else "1"
    return text[:index] + replacement + text[index + 1 :]


@_HYP
@given(
    field=st.sampled_from(["body", *NAMES]),
    change=st.tuples(
        st.integers(min_value=0, max_value=10_000),  # position
        st.characters(codec="utf-8"),  # replacement character for a header
        st.integers(min_value=1, max_value=255),  # XOR mask for a body byte
    ),
    body=st.binary(min_size=1, max_size=200),
    which=st.sampled_from(_VERIFIERS),
)
def test_property_any_change_is_rejected(
    field: str, change: tuple[int, str, int], body: bytes, which: StandardWebhooksVerifier
) -> None:
    index, replacement, byte = change
    signed = _sign(body=body)
    headers = dict(signed.headers)
    if field == "body":
        mutated = bytearray(body)
        mutated[index % len(body)] ^= byte
        body = bytes(mutated)
    else:
        headers[field] = _mutate(headers[field], index, replacement)
    with pytest.raises(VerificationError):
        which.verify(body, headers, now=NOW)


@_HYP
@given(
    headers=st.dictionaries(
        st.one_of(
            st.sampled_from([*NAMES, "svix-id", "svix-timestamp", "svix-signature", "Webhook-Id", "SVIX-ID"]),
            st.text(max_size=20),
        ),
        st.one_of(
            st.text(),
            st.from_regex(r"\A[0-9]{1,13}\Z"),
            st.from_regex(r"\A(v1a?,[A-Za-z0-9+/=]{0,90} ?){1,3}\Z"),
            st.just(str(NOW)),
        ),
        max_size=8,
    ),
    body=st.binary(max_size=64),
)
def test_property_arbitrary_headers_only_raise_verification_errors(
    headers: dict[str, str], body: bytes
) -> None:
    for v in (*_VERIFIERS, _ED_VERIFIER):
        try:
            v.verify(body, headers, now=NOW)
        except VerificationError:
            continue
        raise AssertionError("arbitrary headers verified")  # pragma: no cover


_ED_VERIFIER = StandardWebhooksEd25519Verifier([public_pem(load_key(generate_key("ed25519")))])
