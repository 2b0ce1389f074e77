"""Tests for the provider presets (GitHub, Shopify, Slack) and the Stripe scheme, against documented vectors
and the providers' own libraries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier

from hookgate.errors import (
    ConfigError,
    KeyFormatError,
    MalformedError,
    SignatureError,
    TimestampError,
    VerificationError,
)
from hookgate.keys import Secret
from hookgate.schemes._base import EventSigner, Signer
from hookgate.schemes.providers import (
    GITHUB,
    PRESETS,
    SHOPIFY,
    SHOPIFY_API_VERSION,
    SHOPIFY_SHOP_DOMAIN,
    SLACK,
    GitHubSigner,
    ShopifySigner,
    StripeSigner,
    StripeVerifier,
    preset_signer,
    preset_verifier,
    raw_secret,
)

NOW = 1_700_000_000

# --- GitHub: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries ---

GH_SECRET = "It's a Secret to Everybody"
GH_BODY = b"Hello, World!"
GH_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_vector_sign() -> None:
    signed = preset_signer("github", [GH_SECRET]).sign(GH_BODY, msg_id="delivery-1", now=NOW)
    assert signed.headers == {"X-Hub-Signature-256": GH_SIG}
    assert signed.body == GH_BODY


def test_github_documented_vector_verify() -> None:
    result = preset_verifier("github", [GH_SECRET]).verify(GH_BODY, {"X-Hub-Signature-256": GH_SIG}, now=NOW)
    assert result.payload == GH_BODY
    assert result.key_id == "0"
    # header names arrive lower-cased from ASGI servers
    assert (
        preset_verifier("github", ["old", GH_SECRET])
        .verify(GH_BODY, {"x-hub-signature-256": GH_SIG}, now=NOW)
        .key_id
        == "1"
    )


def test_github_rejections() -> None:
    v = preset_verifier("github", [GH_SECRET])
    with pytest.raises(SignatureError):
        v.verify(GH_BODY + b"\n", {"X-Hub-Signature-256": GH_SIG}, now=NOW)
    with pytest.raises(SignatureError):
        preset_verifier("github", ["It's a secret to everybody"]).verify(
            GH_BODY, {"X-Hub-Signature-256": GH_SIG}, now=NOW
        )
    with pytest.raises(MalformedError):
        v.verify(GH_BODY, {"X-Hub-Signature-256": GH_SIG.removeprefix("sha256=")}, now=NOW)
    with pytest.raises(MalformedError):
        # the legacy SHA-1 header is not the one GitHub's preset checks
        v.verify(GH_BODY, {"X-Hub-Signature": "sha1=" + "0" * 40}, now=NOW)


def test_github_timestamp_irrelevant() -> None:
    # GitHub signs the body only: a delivery verified long after it was sent still verifies
    assert not GITHUB.uses_timestamp
    assert (
        preset_verifier("github", [GH_SECRET]).verify(GH_BODY, {"X-Hub-Signature-256": GH_SIG}, now=0).key_id
        == "0"
    )


# --- Slack: https://api.slack.com/authentication/verifying-requests-from-slack ---

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slack_documented_vector_sign() -> None:
    signed = preset_signer("slack", [SLACK_SECRET]).sign(SLACK_BODY, msg_id="", now=SLACK_TS)
    assert signed.headers == {"X-Slack-Signature": SLACK_SIG, "X-Slack-Request-Timestamp": str(SLACK_TS)}


def test_slack_documented_vector_verify() -> None:
    headers = {"X-Slack-Signature": SLACK_SIG, "X-Slack-Request-Timestamp": str(SLACK_TS)}
    result = preset_verifier("slack", [SLACK_SECRET]).verify(SLACK_BODY, headers, now=SLACK_TS + 5)
    assert result.timestamp == SLACK_TS
    assert result.key_id == "0"


def test_slack_sdk_agrees_on_documented_vector() -> None:
    sdk = SignatureVerifier(SLACK_SECRET, clock=_FixedClock(SLACK_TS))
    assert sdk.generate_signature(timestamp=str(SLACK_TS), body=SLACK_BODY) == SLACK_SIG
    assert sdk.is_valid(SLACK_BODY, str(SLACK_TS), SLACK_SIG)


def test_slack_tolerance_and_tampering() -> None:
    headers = {"X-Slack-Signature": SLACK_SIG, "X-Slack-Request-Timestamp": str(SLACK_TS)}
    v = preset_verifier("slack", [SLACK_SECRET])
    assert v.verify(SLACK_BODY, headers, now=SLACK_TS + 300).timestamp == SLACK_TS
    with pytest.raises(TimestampError):
        v.verify(SLACK_BODY, headers, now=SLACK_TS + 301)
    with pytest.raises(TimestampError):
        v.verify(SLACK_BODY, headers, now=SLACK_TS - 301)
    narrow = preset_verifier("slack", [SLACK_SECRET], tolerance=10)
    assert narrow.config.tolerance == 10
    assert narrow.config.template == SLACK.template
    with pytest.raises(TimestampError):
        narrow.verify(SLACK_BODY, headers, now=SLACK_TS + 11)
    # moving the timestamp inside the window breaks the signature
    moved = dict(headers)
    moved["X-Slack-Request-Timestamp"] = str(SLACK_TS + 1)
    with pytest.raises(SignatureError):
        v.verify(SLACK_BODY, moved, now=SLACK_TS)
    with pytest.raises(SignatureError):
        v.verify(SLACK_BODY.replace(b"foobar", b"foobaz"), headers, now=SLACK_TS)
    with pytest.raises(MalformedError):
        v.verify(SLACK_BODY, {"X-Slack-Signature": SLACK_SIG}, now=SLACK_TS)


def test_slack_sdk_verifies_ours() -> None:
    now = time.time()
    body = b"token=abc&command=%2Fdeploy&text=prod"
    signed = preset_signer("slack", [SLACK_SECRET]).sign(body, msg_id="", now=now)
    assert SignatureVerifier(SLACK_SECRET).is_valid_request(body, signed.headers)
    assert SignatureVerifier(SLACK_SECRET, clock=_FixedClock(now)).is_valid_request(body, signed.headers)
    assert not SignatureVerifier("wrong-secret").is_valid_request(body, signed.headers)
    assert not SignatureVerifier(SLACK_SECRET).is_valid_request(body + b"x", signed.headers)


def test_we_verify_slack_sdk() -> None:
    now = time.time()
    ts = str(int(now))
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    sig = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body)
    assert sig is not None
    headers = {"x-slack-signature": sig, "x-slack-request-timestamp": ts}
    assert preset_verifier("slack", [SLACK_SECRET]).verify(body, headers, now=now).timestamp == int(ts)
    assert preset_verifier("slack", ["x", SLACK_SECRET]).verify(body, headers, now=now).key_id == "1"


# --- Shopify: base64 HMAC-SHA256 of the raw body with the app's client secret ---

SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"
SHOPIFY_BODY = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"1.00"}'


def _shopify_expected(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def test_shopify_matches_independent_hmac() -> None:
    expected = _shopify_expected(SHOPIFY_SECRET, SHOPIFY_BODY)
    signed = preset_signer("shopify", [SHOPIFY_SECRET]).sign(SHOPIFY_BODY, msg_id="", now=NOW)
    assert signed.headers == {"X-Shopify-Hmac-Sha256": expected}
    assert SHOPIFY.prefix == ""
    result = preset_verifier("shopify", [SHOPIFY_SECRET]).verify(
        SHOPIFY_BODY, {"x-shopify-hmac-sha256": expected}, now=NOW
    )
    assert result.key_id == "0"


def test_shopify_rejections() -> None:
    expected = _shopify_expected(SHOPIFY_SECRET, SHOPIFY_BODY)
    v = preset_verifier("shopify", [SHOPIFY_SECRET])
    with pytest.raises(SignatureError):
        v.verify(SHOPIFY_BODY + b" ", {"X-Shopify-Hmac-Sha256": expected}, now=NOW)
    # the hex form of the same MAC is not what Shopify sends
    hex_form = hmac.new(SHOPIFY_SECRET.encode(), SHOPIFY_BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        v.verify(SHOPIFY_BODY, {"X-Shopify-Hmac-Sha256": hex_form}, now=NOW)
    with pytest.raises(SignatureError):
        preset_verifier("shopify", ["other"]).verify(
            SHOPIFY_BODY, {"X-Shopify-Hmac-Sha256": expected}, now=NOW
        )
    with pytest.raises(MalformedError):
        v.verify(SHOPIFY_BODY, {}, now=NOW)


# --- the headers each provider's own receiving library requires, besides the signature ---

# @octokit/webhooks (src/middleware/node/get-missing-headers.js): 400 when any of these is missing
OCTOKIT_REQUIRED = ("x-github-event", "x-hub-signature-256", "x-github-delivery")
# @shopify/shopify-api (lib/webhooks/validate.ts, checkWebhooksHeaders): missing_headers when any is missing
SHOPIFY_REQUIRED = (
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_github_sends_the_event_and_delivery_octokit_requires() -> None:
    signer = GitHubSigner([GH_SECRET])
    signed = signer.sign_event(GH_BODY, msg_id="msg_1", event_type="issues", created_at=NOW - 5, now=NOW)
    headers = lower(signed.headers)
    assert [h for h in OCTOKIT_REQUIRED if not headers.get(h)] == []
    assert headers == {
        "x-hub-signature-256": GH_SIG,
        "x-github-event": "issues",
        "x-github-delivery": "msg_1",
    }
    assert signed.body == GH_BODY
    # without an event (hookgate sign without --event-type) the signature and delivery id are still there
    assert lower(signer.sign(GH_BODY, msg_id="msg_1", now=NOW).headers) == {
        "x-hub-signature-256": GH_SIG,
        "x-github-delivery": "msg_1",
    }


def test_shopify_sends_every_header_shopify_sends() -> None:
    signer = ShopifySigner([SHOPIFY_SECRET])
    created = 1_680_112_827.877041  # 2023-03-29T18:00:27.877041Z
    signed = signer.sign_event(
        SHOPIFY_BODY, msg_id="msg_9", event_type="orders.create", created_at=created, now=NOW
    )
    headers = lower(signed.headers)
    assert [h for h in SHOPIFY_REQUIRED if not headers.get(h)] == []
    assert headers == {
        "x-shopify-hmac-sha256": _shopify_expected(SHOPIFY_SECRET, SHOPIFY_BODY),
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": SHOPIFY_SHOP_DOMAIN,
        "x-shopify-api-version": SHOPIFY_API_VERSION,
        "x-shopify-webhook-id": "msg_9",
        "x-shopify-event-id": "msg_9",
        "x-shopify-triggered-at": "2023-03-29T18:00:27.877041Z",
    }
    # our own verifier still accepts it (the extra headers are not signed)
    assert preset_verifier("shopify", [SHOPIFY_SECRET]).verify(SHOPIFY_BODY, headers, now=NOW).key_id == "0"


def test_shopify_options_are_sent_and_the_topic_separator_is_configurable() -> None:
    signer = ShopifySigner(
        [SHOPIFY_SECRET], shop_domain="acme.myshopify.com", api_version="2024-07", topic_separator="."
    )
    headers = signer.sign_event(
        SHOPIFY_BODY, msg_id="m", event_type="app.uninstalled", created_at=NOW, now=NOW
    ).headers
    assert headers["X-Shopify-Shop-Domain"] == "acme.myshopify.com"
    assert headers["X-Shopify-API-Version"] == "2024-07"
    assert headers["X-Shopify-Topic"] == "app.uninstalled"
    assert ShopifySigner([SHOPIFY_SECRET], api_version="unstable").api_version == "unstable"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shop_domain": "not a host"}, r"^scheme option shop_domain must be a host name"),
        ({"shop_domain": "evil.example\r\nX-Injected: 1"}, r"^scheme option shop_domain must be a host name"),
        ({"api_version": "latest"}, r"^scheme option api_version must be a Shopify API version"),
        ({"api_version": "2024-7"}, r"^scheme option api_version must be a Shopify API version"),
        ({"topic_separator": "_"}, r"^scheme option topic_separator must be '/' or '\.'$"),
    ],
)
def test_shopify_options_are_checked(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ShopifySigner([SHOPIFY_SECRET], **options)


def test_event_signers_are_recognised_and_still_plain_signers() -> None:
    for signer in (GitHubSigner([GH_SECRET]), ShopifySigner([SHOPIFY_SECRET])):
        assert isinstance(signer, EventSigner)
        assert isinstance(signer, Signer)
    for plain in (preset_signer("slack", [SLACK_SECRET]), StripeSigner([STRIPE_SECRET])):
        assert not isinstance(plain, EventSigner)


def test_presets_registry() -> None:
    assert PRESETS == {"github": GITHUB, "shopify": SHOPIFY, "slack": SLACK}
    with pytest.raises(KeyError):
        preset_signer("gitlab", ["x"])


def test_raw_secret_uses_literal_bytes() -> None:
    assert raw_secret("whsec_abc").reveal() == b"whsec_abc"
    assert raw_secret(b"\x00\xff").reveal() == b"\x00\xff"
    s = Secret(b"k")
    assert raw_secret(s) is s
    with pytest.raises(KeyFormatError):
        raw_secret("")
    with pytest.raises(KeyFormatError):
        raw_secret(b"")


# --- Stripe ---

STRIPE_SECRET = "whsec_test_" + "a1b2c3d4" * 4
STRIPE_BODY = b'{"id": "evt_1", "object": "event", "type": "charge.succeeded", "data": {"object": {}}}'


def _stripe_sig(secret: str, ts: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def test_stripe_signer_format_and_whole_secret_is_key() -> None:
    signed = StripeSigner([STRIPE_SECRET]).sign(STRIPE_BODY, msg_id="evt_1", now=NOW + 0.4)
    assert signed.headers == {
        "Stripe-Signature": f"t={NOW},v1={_stripe_sig(STRIPE_SECRET, NOW, STRIPE_BODY)}"
    }
    assert signed.body == STRIPE_BODY


def test_stripe_signer_matches_library_generator() -> None:
    header = stripe.WebhookSignature.generate_signature_header(
        STRIPE_BODY.decode(), STRIPE_SECRET, timestamp=NOW
    )
    signed = StripeSigner([STRIPE_SECRET]).sign(STRIPE_BODY, msg_id="evt_1", now=NOW)
    assert signed.headers["Stripe-Signature"] == header
    computed = stripe.WebhookSignature._compute_signature(f"{NOW}.{STRIPE_BODY.decode()}", STRIPE_SECRET)
    assert header.endswith("v1=" + computed)


def test_stripe_library_accepts_ours() -> None:
    now = time.time()
    signed = StripeSigner([STRIPE_SECRET]).sign(STRIPE_BODY, msg_id="evt_1", now=now)
    header = signed.headers["Stripe-Signature"]
    assert stripe.WebhookSignature.verify_header(STRIPE_BODY, header, STRIPE_SECRET, tolerance=300) is True
    event = stripe.Webhook.construct_event(STRIPE_BODY, header, STRIPE_SECRET)
    assert event.id == "evt_1"
    assert event.type == "charge.succeeded"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(STRIPE_BODY, header, STRIPE_SECRET + "x")


def test_stripe_library_accepts_our_rotation_header() -> None:
    now = time.time()
    other = "whsec_other"
    header = (
        StripeSigner([other, STRIPE_SECRET])
        .sign(STRIPE_BODY, msg_id="evt_1", now=now)
        .headers["Stripe-Signature"]
    )
    assert header.count("v1=") == 2
    assert stripe.Webhook.construct_event(STRIPE_BODY, header, STRIPE_SECRET).id == "evt_1"
    assert stripe.Webhook.construct_event(STRIPE_BODY, header, other).id == "evt_1"


def test_we_verify_stripe_library() -> None:
    now = time.time()
    header = stripe.WebhookSignature.generate_signature_header(STRIPE_BODY.decode(), STRIPE_SECRET)
    result = StripeVerifier([STRIPE_SECRET]).verify(STRIPE_BODY, {"Stripe-Signature": header}, now=now)
    assert result.timestamp is not None
    assert abs(result.timestamp - now) <= 2
    assert result.key_id == "0"
    assert (
        StripeVerifier(["whsec_x", STRIPE_SECRET])
        .verify(STRIPE_BODY, {"stripe-signature": header}, now=now)
        .key_id
        == "1"
    )
    with pytest.raises(SignatureError):
        StripeVerifier(["whsec_x"]).verify(STRIPE_BODY, {"stripe-signature": header}, now=now)


def test_stripe_several_v1_values_and_other_schemes() -> None:
    good = _stripe_sig(STRIPE_SECRET, NOW, STRIPE_BODY)
    bogus = "0" * 64
    v = StripeVerifier([STRIPE_SECRET])
    for header in (
        f"t={NOW},v1={bogus},v1={good}",
        f"t={NOW},v1={good},v1={bogus}",
        f"v1={good},t={NOW}",
        f"t={NOW},v0={bogus},v1={good}",
        f"t={NOW}, v1={good}",
    ):
        assert v.verify(STRIPE_BODY, {"Stripe-Signature": header}, now=NOW).timestamp == NOW
    with pytest.raises(SignatureError) as info:
        v.verify(STRIPE_BODY, {"Stripe-Signature": f"t={NOW},v1={bogus},v0={good}"}, now=NOW)
    assert info.value.reason == "signature_mismatch"


def test_stripe_tolerance() -> None:
    signed = StripeSigner([STRIPE_SECRET]).sign(STRIPE_BODY, msg_id="", now=NOW)
    v = StripeVerifier([STRIPE_SECRET])
    assert v.verify(STRIPE_BODY, signed.headers, now=NOW + 300).key_id == "0"
    assert v.verify(STRIPE_BODY, signed.headers, now=NOW - 300).key_id == "0"
    with pytest.raises(TimestampError) as old:
        v.verify(STRIPE_BODY, signed.headers, now=NOW + 301)
    assert old.value.reason == "timestamp_too_old"
    with pytest.raises(TimestampError) as future:
        v.verify(STRIPE_BODY, signed.headers, now=NOW - 301)
    assert future.value.reason == "timestamp_in_future"
    narrow = StripeVerifier([STRIPE_SECRET], tolerance=5)
    assert narrow.verify(STRIPE_BODY, signed.headers, now=NOW + 5).key_id == "0"
    with pytest.raises(TimestampError):
        narrow.verify(STRIPE_BODY, signed.headers, now=NOW + 6)


def test_stripe_tampering() -> None:
    signed = StripeSigner([STRIPE_SECRET]).sign(STRIPE_BODY, msg_id="", now=NOW)
    header = signed.headers["Stripe-Signature"]
    v = StripeVerifier([STRIPE_SECRET])
    with pytest.raises(SignatureError):
        v.verify(STRIPE_BODY.replace(b"evt_1", b"evt_2"), signed.headers, now=NOW)
    with pytest.raises(SignatureError):
        v.verify(STRIPE_BODY, {"Stripe-Signature": header.replace(f"t={NOW}", f"t={NOW + 1}")}, now=NOW)
    with pytest.raises(TimestampError):
        v.verify(STRIPE_BODY, {"Stripe-Signature": header.replace(f"t={NOW}", f"t={NOW - 3600}")}, now=NOW)
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
    with pytest.raises(SignatureError):
        v.verify(STRIPE_BODY, {"Stripe-Signature": flipped}, now=NOW)
    # the key is the whole whsec_ string, not the base64 after the prefix
    with pytest.raises(SignatureError):
        StripeVerifier([STRIPE_SECRET.removeprefix("whsec_")]).verify(STRIPE_BODY, signed.headers, now=NOW)


@pytest.mark.parametrize(
    ("header", "error", "reason"),
    [
        (None, MalformedError, "missing_header"),
        (f"v1={'0' * 64}", MalformedError, "bad_timestamp"),
        (f"t=,v1={'0' * 64}", MalformedError, "bad_timestamp"),
        (f"t=abc,v1={'0' * 64}", MalformedError, "bad_timestamp"),
        (f"t=-5,v1={'0' * 64}", MalformedError, "bad_timestamp"),
        (f"t=\u0661\u0667\u0660\u0660,v1={'0' * 64}", MalformedError, "bad_timestamp"),
        (f"t={NOW}", SignatureError, "no_matching_version"),
        (f"t={NOW},v0={'0' * 64}", SignatureError, "no_matching_version"),
        ("garbage", MalformedError, "bad_signature_header"),
        ("", MalformedError, "bad_signature_header"),
        (f"t={NOW},v1={'0' * 64},", MalformedError, "bad_signature_header"),
        (f"t={NOW},v1=é", MalformedError, "bad_signature_header"),
        (f"t={NOW},v1={'0' * 3000}", MalformedError, "bad_signature_header"),
    ],
)
def test_stripe_malformed(header: str | None, error: type[VerificationError], reason: str) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}
    with pytest.raises(error) as info:
        StripeVerifier([STRIPE_SECRET]).verify(STRIPE_BODY, headers, now=NOW)
    assert type(info.value) is error
    assert info.value.reason == reason
    assert info.value.status_hint == (400 if error is MalformedError else 401)


def test_stripe_empty_secrets_rejected() -> None:
    with pytest.raises(KeyFormatError):
        StripeSigner([])
    with pytest.raises(KeyFormatError):
        StripeVerifier([])
    with pytest.raises(KeyFormatError):
        StripeVerifier([""])


def test_reprs_never_show_secrets() -> None:
    objects = [
        StripeSigner([STRIPE_SECRET]),
        StripeVerifier([STRIPE_SECRET]),
        preset_signer("github", [GH_SECRET]),
        preset_verifier("slack", [SLACK_SECRET]),
        GitHubSigner([GH_SECRET]),
        ShopifySigner([SHOPIFY_SECRET]),
    ]
    for obj in objects:
        text = repr(obj)
        assert "redacted" in text
        for secret in (
            STRIPE_SECRET,
            GH_SECRET,
            SLACK_SECRET,
            SHOPIFY_SECRET,
            STRIPE_SECRET.removeprefix("whsec_"),
        ):
            assert secret not in text


# --- property tests ---


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.one_of(st.sampled_from(["Stripe-Signature", "stripe-signature"]), st.text(max_size=10)),
        st.one_of(
            st.text(),
            st.from_regex(
                r"\A(t=[0-9]{0,13}|v1=[0-9a-f]{0,64}|[a-z0-9]{0,3}=?[^,]{0,5})"
                r"(, ?(t=[0-9]{0,13}|v1=[0-9a-f]{0,64}))*\Z"
            ),
        ),
        max_size=4,
    ),
    body=st.binary(max_size=64),
)
def test_property_stripe_arbitrary_headers_only_raise_verification_errors(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(VerificationError):
        StripeVerifier([STRIPE_SECRET]).verify(body, headers, now=NOW)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(PRESETS)),
    headers=st.dictionaries(
        st.one_of(
            st.sampled_from(
                [
                    "X-Hub-Signature-256",
                    "X-Shopify-Hmac-Sha256",
                    "X-Slack-Signature",
                    "X-Slack-Request-Timestamp",
                ]
            ),
            st.text(max_size=10),
        ),
        st.one_of(st.text(), st.just(str(NOW)), st.from_regex(r"\A(sha256=|v0=)?[0-9a-f]{0,64}\Z")),
        max_size=4,
    ),
    body=st.binary(max_size=64),
)
def test_property_presets_arbitrary_headers_only_raise_verification_errors(
    name: str, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(VerificationError):
        preset_verifier(name, ["secret"]).verify(body, headers, now=NOW)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(min_size=1, max_size=100), index=st.integers(min_value=0), flip=st.integers(1, 255))
def test_property_stripe_body_change_rejected(body: bytes, index: int, flip: int) -> None:
    signed = StripeSigner([STRIPE_SECRET]).sign(body, msg_id="", now=NOW)
    v = StripeVerifier([STRIPE_SECRET])
    assert v.verify(body, signed.headers, now=NOW).payload == body
    mutated = bytearray(body)
    mutated[index % len(body)] ^= flip
    with pytest.raises(SignatureError):
        v.verify(bytes(mutated), signed.headers, now=NOW)
