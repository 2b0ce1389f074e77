"""RequestBuilder: signed requests that peers verify, rotation signatures, custom header rules, redaction."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks import Webhook, WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook

from hookgate.client import Hookgate
from hookgate.config.endpoint import (
    RESERVED_HEADERS,
    DeliveryPolicy,
    EndpointConfig,
    validate_custom_headers,
)
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError
from hookgate.models import Endpoint, Message
from hookgate.outbound.request import OUTBOUND_SCHEMES, OutgoingRequest, RequestBuilder
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.standard_webhooks import StandardWebhooksVerifier
from hookgate.store.memory import MemoryStore
from hookgate.testing import RecordedRequest, Reply
from hookgate.vault import EndpointSecrets, SecretEntry, seal_secrets
from tests.support import MakeReceiver

OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
BODY = b'{"type":"user.created","id":42}'
URL = "https://hooks.example.com/in/T0KEN-IN-PATH"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(parse_master_keys(generate_master_key()))


def make_endpoint(
    box: SecretBox | None,
    secrets: EndpointSecrets,
    *,
    scheme: str = "standard-webhooks",
    headers: dict[str, str] | None = None,
    endpoint_id: str = "ep_1",
    updated_at: float = 1.0,
) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        app_id="app_1",
        config=EndpointConfig(
            url=URL, scheme=scheme, headers=headers or {}, policy=DeliveryPolicy(timeout_s=7.5)
        ),
        created_at=1.0,
        updated_at=updated_at,
        secrets_sealed=seal_secrets(box, endpoint_id, secrets)
        if box is not None and secrets.entries
        else b"",
    )


def make_message(msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W") -> Message:
    return Message(id=msg_id, app_id="app_1", event_type="user.created", payload=BODY, created_at=1.0)


def signatures(request: OutgoingRequest) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def expected_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_") :])
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- Standard Webhooks, verified by the reference library ---------------------------------------------


def test_standard_webhooks_request_verifies_with_reference_library(box: SecretBox) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([OLD]))
    message = make_message()
    now = time.time()
    request = RequestBuilder(box).build(message, endpoint, now=now)
    assert request.url == URL
    assert request.body == BODY
    assert request.timeout_s == 7.5
    assert request.insecure_ok is False
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == message.id
    assert request.headers["webhook-timestamp"] == str(int(now))
    assert len(signatures(request)) == 1
    assert Webhook(OLD).verify(request.body, request.headers) == {"type": "user.created", "id": 42}
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(request.body, request.headers)


def test_message_id_is_stable_across_attempts_and_timestamp_is_the_attempts(box: SecretBox) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([OLD]))
    builder = RequestBuilder(box)
    now = time.time()
    first = builder.build(make_message(), endpoint, now=now - 60)
    second = builder.build(make_message(), endpoint, now=now)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    Webhook(OLD).verify(second.body, second.headers)


def test_rotation_signs_with_both_secrets_and_each_receiver_verifies(box: SecretBox) -> None:
    now = time.time()
    secrets = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=now - 10, grace_s=3600)
    endpoint = make_endpoint(box, secrets)
    request = RequestBuilder(box).build(make_message(), endpoint, now=now)
    sigs = signatures(request)
    assert len(sigs) == 2
    msg_id, ts = request.headers["webhook-id"], int(request.headers["webhook-timestamp"])
    assert sigs == [expected_signature(NEW, msg_id, ts, BODY), expected_signature(OLD, msg_id, ts, BODY)]
    # a receiver that has not switched yet, and one that already has
    Webhook(OLD).verify(request.body, request.headers)
    Webhook(NEW).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 24).decode()).verify(request.body, request.headers)


def test_after_grace_only_the_new_secret_signs(box: SecretBox) -> None:
    now = time.time()
    secrets = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=now - 7200, grace_s=3600)
    request = RequestBuilder(box).build(make_message(), make_endpoint(box, secrets), now=now)
    assert len(signatures(request)) == 1
    Webhook(NEW).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(request.body, request.headers)


def test_cached_signer_is_rebuilt_when_the_old_secret_expires(box: SecretBox) -> None:
    t0 = 1_700_000_000.0
    secrets = EndpointSecrets.of([OLD]).rotate(SecretEntry(NEW), now=t0, grace_s=100)
    endpoint = make_endpoint(box, secrets)
    builder = RequestBuilder(box)
    message = make_message()

    during = builder.build(message, endpoint, now=t0 + 1)
    still = builder.build(message, endpoint, now=t0 + 99)  # from the cache: still two
    after = builder.build(message, endpoint, now=t0 + 100)  # valid_until reached: rebuilt
    much_later = builder.build(message, endpoint, now=t0 + 10_000)

    assert len(signatures(during)) == 2
    assert len(signatures(still)) == 2
    assert signatures(after) == [expected_signature(NEW, message.id, int(t0 + 100), BODY)]
    assert len(signatures(much_later)) == 1
    old_only = StandardWebhooksVerifier([OLD])
    new_only = StandardWebhooksVerifier([NEW])
    old_only.verify(still.body, still.headers, now=t0 + 99)
    new_only.verify(after.body, after.headers, now=t0 + 100)
    with pytest.raises(Exception, match=r"(?i)signature"):
        old_only.verify(after.body, after.headers, now=t0 + 100)


def test_cache_follows_changed_secrets(box: SecretBox) -> None:
    builder = RequestBuilder(box)
    message = make_message()
    now = time.time()
    before = make_endpoint(box, EndpointSecrets.of([OLD]), updated_at=1.0)
    first = builder.build(message, before, now=now)
    Webhook(OLD).verify(first.body, first.headers)
    after = make_endpoint(box, EndpointSecrets.of([NEW]), updated_at=2.0)
    request = builder.build(message, after, now=now)
    Webhook(NEW).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(request.body, request.headers)


# -- custom headers --------------------------------------------------------------------------------------


def test_custom_headers_are_added_but_cannot_override_signed_or_framing_headers(box: SecretBox) -> None:
    # headers set directly on the record (bypassing validation) must still lose against ours
    endpoint = make_endpoint(
        box,
        EndpointSecrets.of([OLD]),
        headers={
            "X-Tenant": "acme",
            "content-type": "text/plain",
            "Webhook-Signature": "v1,forged",
            "WEBHOOK-ID": "msg_forged",
            "webhook-timestamp": "1",
            "Content-Length": "1",
        },
    )
    request = RequestBuilder(box).build(make_message(), endpoint, now=time.time())
    assert request.headers["X-Tenant"] == "acme"
    lowered: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        lowered.setdefault(name.lower(), []).append(value)
    assert lowered["content-type"] == ["application/json"]
    assert lowered["webhook-id"] == [make_message().id]
    assert "v1,forged" not in lowered["webhook-signature"]
    assert len(lowered["webhook-signature"]) == 1
    assert lowered["webhook-timestamp"] != ["1"]
    assert "content-length" not in lowered
    Webhook(OLD).verify(request.body, request.headers)


def test_custom_header_cannot_override_a_scheme_specific_signature_header(box: SecretBox) -> None:
    endpoint = make_endpoint(
        box,
        EndpointSecrets.of(["topsecret"]),
        scheme="github",
        headers={"x-hub-signature-256": "sha256=forged", "X-Extra": "1"},
    )
    request = RequestBuilder(box).build(make_message(), endpoint, now=time.time())
    names = [n.lower() for n in request.headers]
    assert names.count("x-hub-signature-256") == 1
    expected = "sha256=" + hmac.new(b"topsecret", BODY, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature-256"] == expected
    assert request.headers["X-Extra"] == "1"


def test_scheme_none_sends_the_payload_unsigned() -> None:
    endpoint = make_endpoint(None, EndpointSecrets(), scheme="none", headers={"Authorization": "Bearer t"})
    request = RequestBuilder(None).build(make_message(), endpoint, now=time.time())
    assert request.body == BODY
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer t"}
    assert "none" in OUTBOUND_SCHEMES


def test_builder_without_box_refuses_signed_schemes(box: SecretBox) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([OLD]))
    with pytest.raises(ConfigError, match="no master key configured"):
        RequestBuilder(None).build(make_message(), endpoint, now=time.time())


def test_unknown_scheme_on_a_record_is_a_config_error(box: SecretBox) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([OLD]), scheme="carrier-pigeon")
    with pytest.raises(ConfigError, match=r"unknown (signature )?scheme 'carrier-pigeon'"):
        RequestBuilder(box).build(make_message(), endpoint, now=time.time())


def test_outgoing_request_repr_hides_signature_url_and_body(box: SecretBox) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([OLD]), headers={"X-Api-Token": "tok_very_secret"})
    request = RequestBuilder(box).build(make_message(), endpoint, now=time.time())
    text = repr(request)
    sig = request.headers["webhook-signature"]
    for leak in (sig, sig[3:], URL, "T0KEN-IN-PATH", "hooks.example.com", "tok_very_secret", BODY.decode()):
        assert leak not in text
    assert f"<{len(BODY)} bytes>" in text
    assert str(request) == text


# -- validate_custom_headers --------------------------------------------------------------------------


def test_validate_custom_headers_accepts_and_copies() -> None:
    headers = {"X-Tenant": "acme", "Authorization": "Bearer abc"}
    result = validate_custom_headers(headers)
    assert result == headers
    assert result is not headers
    assert validate_custom_headers({}) == {}


@pytest.mark.parametrize("name", sorted(RESERVED_HEADERS))
def test_validate_custom_headers_rejects_reserved_names(name: str) -> None:
    for variant in (name, name.upper(), name.title()):
        with pytest.raises(ConfigError, match="set by hookgate and cannot be overridden"):
            validate_custom_headers({variant: "x"})


def test_validate_custom_headers_rejects_case_duplicates() -> None:
    with pytest.raises(ConfigError, match="appears twice"):
        validate_custom_headers({"X-Tenant": "a", "x-tenant": "b"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\r\nX-Injected: 1", r"contains a control character \('\\r'\)"),
        ("a\nb", r"contains a control character \('\\n'\)"),
        ("a\x00b", r"contains a control character \('\\x00'\)"),
        # issue 10 item 15: these were accepted, then every delivery failed with aiohttp's ValueError
        ("a\x0bb", r"contains a control character \('\\x0b'\)"),
        ("a\x0cb", r"contains a control character \('\\x0c'\)"),
        ("a\x7fb", r"contains a control character \('\\x7f'\)"),
        ("caf\u00e9", r"contains a non-ASCII character"),
        (" padded", r"must not start or end with a space or tab"),
        ("x" * 4097, r"4097 characters long; at most 4096"),
        (3, r"must be a string, not int"),
    ],
)
def test_validate_custom_headers_rejects_bad_values(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^header 'X-Tenant': the value (is )?" + message):
        validate_custom_headers({"X-Tenant": value})


def test_validate_custom_headers_accepts_long_value_at_the_limit() -> None:
    assert validate_custom_headers({"X-Tenant": "x" * 4096})


@pytest.mark.parametrize("name", ["", "X Tenant", "X-Tenant:", "X\r\nInjected", "Ünicode", "(x)"])
def test_validate_custom_headers_rejects_invalid_names(name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid HTTP header name"):
        validate_custom_headers({name: "x"})


def test_validate_custom_headers_rejects_non_strings() -> None:
    with pytest.raises(ConfigError, match="must be a string"):
        validate_custom_headers({"X-Count": 3})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="header name 3 must be a string"):
        validate_custom_headers({3: "x"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="must be a mapping"):
        validate_custom_headers([("X-A", "1")])  # type: ignore[arg-type]


def test_validate_custom_headers_caps_name_length_and_total_size() -> None:
    with pytest.raises(ConfigError, match=r"is 10000 characters long; at most 256"):
        validate_custom_headers({"X" * 10_000: "1"})
    assert validate_custom_headers({"X" * 256: "1"})
    at_limit = {f"X-{i}": "v" * (2048 - len(f"X-{i}")) for i in range(4)}
    assert validate_custom_headers(at_limit) == at_limit
    with pytest.raises(ConfigError, match=r"custom headers total 8193 characters; at most 8192"):
        validate_custom_headers({**at_limit, "X": ""})


def test_validate_custom_headers_limits_the_count() -> None:
    assert len(validate_custom_headers({f"X-H{i}": "v" for i in range(32)})) == 32
    with pytest.raises(ConfigError, match="at most 32 custom headers"):
        validate_custom_headers({f"X-H{i}": "v" for i in range(33)})


# -- provider presets: every header the provider's own receiving library requires -------------------------

GH_SECRET = "It's a Secret to Everybody"
SHOP_SECRET = "hush-shopify-secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
STRIPE_SECRET = "whsec_test_5f2b0c8e1d9a4b7c"


def octokit_verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """What @octokit/webhooks' middleware does: 400 on a missing header, then the sha256 HMAC check."""
    missing = [h for h in ("x-github-event", "x-hub-signature-256", "x-github-delivery") if h not in headers]
    assert missing == [], f"octokit: required header(s) missing: {missing}"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-hub-signature-256"], expected), "octokit: signature does not match"


def shopify_verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """What @shopify/shopify-api's webhooks.validate does: the base64 HMAC, then the required headers."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers.get("x-shopify-hmac-sha256", ""), digest), "shopify: invalid_hmac"
    required = (
        "x-shopify-topic",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-webhook-id",
    )
    missing = [h for h in required if not headers.get(h)]
    assert missing == [], f"shopify: missing_headers {missing}"


def provider_verify(scheme: str, body: bytes, headers: Mapping[str, str]) -> None:
    if scheme == "github":
        octokit_verify(GH_SECRET, body, headers)
    elif scheme == "shopify":
        shopify_verify(SHOP_SECRET, body, headers)
    elif scheme == "slack":
        assert SignatureVerifier(SLACK_SECRET).is_valid_request(body, dict(headers)), "slack_sdk refused"
    elif scheme == "stripe":
        stripe.Webhook.construct_event(body.decode(), headers["stripe-signature"], STRIPE_SECRET)
    else:
        assert scheme == "standard-webhooks"
        Webhook(OLD).verify(body, dict(headers))
        SvixWebhook(OLD).verify(body, dict(headers))


PRESET_SECRETS = {
    "github": GH_SECRET,
    "shopify": SHOP_SECRET,
    "slack": SLACK_SECRET,
    "stripe": STRIPE_SECRET,
    "standard-webhooks": OLD,
}


@pytest.mark.parametrize("scheme", sorted(PRESET_SECRETS))
def test_each_preset_request_passes_the_providers_own_verifier(box: SecretBox, scheme: str) -> None:
    endpoint = make_endpoint(box, EndpointSecrets.of([PRESET_SECRETS[scheme]]), scheme=scheme)
    message = Message(id="msg_1", app_id="app_1", event_type="orders.create", payload=BODY, created_at=1.0)
    request = RequestBuilder(box).build(message, endpoint, now=time.time())
    provider_verify(scheme, request.body, {k.lower(): v for k, v in request.headers.items()})


def test_github_and_shopify_requests_name_the_event_and_its_id(box: SecretBox) -> None:
    message = Message(
        id="msg_7", app_id="app_1", event_type="orders.paid", payload=BODY, created_at=1_700_000_000.5
    )
    github = make_endpoint(
        box,
        EndpointSecrets.of([GH_SECRET]),
        scheme="github",
        endpoint_id="ep_gh",
        headers={"X-GitHub-Event": "forged", "X-GitHub-Delivery": "forged"},
    )
    shopify = make_endpoint(
        box,
        EndpointSecrets.of([SHOP_SECRET]),
        scheme="shopify",
        endpoint_id="ep_shop",
        headers={"X-Shopify-Topic": "forged", "X-Shopify-Webhook-Id": "forged"},
    )
    options = {"shop_domain": "acme.myshopify.com", "api_version": "2024-07"}
    shopify.config = replace(shopify.config, scheme_options=options)
    builder = RequestBuilder(box)
    gh = builder.build(message, github, now=time.time()).headers
    assert (gh["X-GitHub-Event"], gh["X-GitHub-Delivery"]) == ("orders.paid", "msg_7")
    shop = builder.build(message, shopify, now=time.time()).headers
    assert shop["X-Shopify-Topic"] == "orders/paid"
    assert shop["X-Shopify-Webhook-Id"] == shop["X-Shopify-Event-Id"] == "msg_7"
    assert shop["X-Shopify-Shop-Domain"] == "acme.myshopify.com"
    assert shop["X-Shopify-API-Version"] == "2024-07"
    assert (
        shop["X-Shopify-Triggered-At"] == "2023-11-14T22:13:20.500000Z"
    )  # the event's time, not the attempt's
    # a custom header cannot replace what the preset sends
    assert "forged" not in gh.values()
    assert "forged" not in shop.values()


def preset_verdicts(verdicts: dict[str, str]) -> Callable[[RecordedRequest], Reply]:
    """Verify every request with the provider's own verifier for the scheme named by the path."""

    def respond(request: RecordedRequest) -> Reply:
        scheme = request.path.strip("/")
        try:
            provider_verify(scheme, request.body, {k.lower(): v for k, v in request.headers.items()})
        except Exception as exc:  # noqa: BLE001 - the verifier's refusal is the test's answer
            verdicts[scheme] = f"refused: {exc}"
            return Reply(400)
        verdicts[scheme] = "ok"
        return Reply(200, "ok")

    return respond


async def test_every_preset_delivered_over_http_passes_the_providers_verifier(
    receivers: MakeReceiver,
) -> None:
    verdicts: dict[str, str] = {}
    receiver = receivers(preset_verdicts(verdicts))
    hg = Hookgate(MemoryStore(), SecretBox(parse_master_keys(generate_master_key())))
    try:
        app = await hg.create_application("presets")
        for scheme, secret in PRESET_SECRETS.items():
            options = {"shop_domain": "acme.myshopify.com"} if scheme == "shopify" else None
            await hg.create_endpoint(
                app.id,
                receiver.url_for(f"/{scheme}"),
                scheme=scheme,
                secret=secret,
                scheme_options=options,
                allow_insecure=True,
                retry_schedule=[0],
            )
        await hg.publish(app, "orders.create", {"id": 1})
        worker = hg.worker(address_policy=AddressPolicy(["127.0.0.0/8"]), idle_poll_s=0.05)
        try:
            await worker.run_until_idle(timeout=10)
        finally:
            await worker.close()
    finally:
        await hg.close()
    assert verdicts == dict.fromkeys(PRESET_SECRETS, "ok")
    assert {r.method for r in receiver.requests} == {"POST"}


async def test_bad_shopify_scheme_options_are_refused_when_the_endpoint_is_saved() -> None:
    hg = Hookgate(MemoryStore(), SecretBox(parse_master_keys(generate_master_key())))
    try:
        app = await hg.create_application("presets")
        with pytest.raises(ConfigError, match=r"^scheme option api_version must be a Shopify API version"):
            await hg.create_endpoint(
                app.id, "https://shop.example/hooks", scheme="shopify", scheme_options={"api_version": "v2"}
            )
        assert await hg.store.list_endpoints(app.id) == []
    finally:
        await hg.close()
