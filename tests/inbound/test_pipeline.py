"""The inbound pipeline on its own: the order of the checks, each answer, claim-then-process, the audit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hookgate.errors import StoreError
from hookgate.inbound.pipeline import Accepted, Admission, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryIdempotencyStore, MemoryRateLimiter, RateDecision
from tests.inbound._peers import (
    AUDIT_FIELDS,
    DUPLICATE,
    GENERIC_ERRORS,
    GH_BODY,
    NOW,
    STRIPE_BODY,
    SVIX_BODY,
    Clock,
    assert_generic,
    captured_audit,
    decisions,
    github_headers,
    github_source,
    stripe_headers,
    stripe_source,
    svix_headers,
    svix_source,
)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def admit(
    pipeline: Pipeline,
    *,
    scheme: str = "https",
    peer: str | None = "127.0.0.1",
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> Admission | Rejection:
    return await pipeline.admit(scheme=scheme, peer=peer, headers=headers or {}, content_length=length)


async def run(
    pipeline: Pipeline, body: bytes, headers: dict[str, str], **kwargs: Any
) -> Accepted | Rejection:
    admission = await admit(pipeline, headers=headers, **kwargs)
    if isinstance(admission, Rejection):
        return admission
    return await pipeline.verify(admission, body, lower(headers))


# -- generic answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(GENERIC_ERRORS))
def test_rejection_bodies_are_generic(status: int) -> None:
    rejection = Rejection(status, "some_internal_reason")
    assert rejection.body == GENERIC_ERRORS[status]
    assert b"internal" not in rejection.body


def test_unknown_status_and_explicit_body() -> None:
    assert json.loads(Rejection(418, "teapot").body) == {"error": "rejected"}
    assert Rejection(200, "duplicate", body=DUPLICATE).body == DUPLICATE


# -- order of the checks ------------------------------------------------------------------------------------


async def test_cheapest_rejection_first() -> None:
    source = stripe_source(
        allow_ips=("10.0.0.0/8",), rate_limit_per_s=1, rate_limit_burst=1, max_body_bytes=10
    )
    pipeline = Pipeline(source, clock=Clock())
    # plain HTTP, wrong IP, over the size: the HTTPS check answers
    first = await admit(pipeline, scheme="http", length=100)
    assert isinstance(first, Rejection)
    assert (first.status, first.reason) == (403, "https_required")
    # over HTTPS: the allowlist answers, before the limiter is asked
    second = await admit(pipeline, length=100)
    assert isinstance(second, Rejection)
    assert (second.status, second.reason) == (403, "ip_not_allowed")
    # from an allowed address: the size (the limiter's one token is spent on it)
    third = await admit(pipeline, peer="10.0.0.1", length=100)
    assert isinstance(third, Rejection)
    assert (third.status, third.reason) == (413, "body_too_large")
    fourth = await admit(pipeline, peer="10.0.0.1", length=5)
    assert isinstance(fourth, Rejection)
    assert (fourth.status, fourth.reason) == (429, "rate_limited")
    assert fourth.headers == {
        "RateLimit-Limit": "1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
        "Retry-After": "1",
    }
    # another client has its own bucket
    assert isinstance(await admit(pipeline, peer="10.0.0.2", length=5), Admission)


async def test_rate_limit_buckets_are_per_source_and_client() -> None:
    limiter = MemoryRateLimiter()
    clock = Clock()
    a = Pipeline(stripe_source(rate_limit_per_s=1, rate_limit_burst=1), limiter=limiter, clock=clock)
    b = Pipeline(svix_source(rate_limit_per_s=1, rate_limit_burst=1), limiter=limiter, clock=clock)
    assert isinstance(await admit(a), Admission)
    assert isinstance(await admit(b), Admission)
    assert isinstance(await admit(a), Rejection)
    assert isinstance(await admit(a, peer="127.0.0.2"), Admission)
    clock.now += 1
    assert isinstance(await admit(a), Admission)


async def test_trusted_proxy_chain_names_the_client() -> None:
    source = stripe_source(allow_ips=("198.51.100.0/24",), trusted_proxies=("10.0.0.0/8",))
    pipeline = Pipeline(source, clock=Clock())
    headers = {"X-Forwarded-For": "192.0.2.1, 198.51.100.7, 10.0.0.9", "X-Forwarded-Proto": "https"}
    admission = await admit(pipeline, scheme="http", peer="10.0.0.1", headers=lower(headers))
    assert isinstance(admission, Admission)
    assert admission.client_ip == "198.51.100.7"
    # the same headers from a peer that is not a trusted proxy are ignored entirely
    untrusted = await admit(pipeline, scheme="http", peer="192.0.2.50", headers=lower(headers))
    assert isinstance(untrusted, Rejection)
    assert untrusted.reason == "https_required"
    untrusted = await admit(pipeline, peer="192.0.2.50", headers=lower(headers))
    assert isinstance(untrusted, Rejection)
    assert untrusted.reason == "ip_not_allowed"
    # a garbled hop names nobody: the allowlist refuses
    garbled = await admit(
        pipeline, peer="10.0.0.1", headers={"x-forwarded-for": "198.51.100.7, junk, 10.0.0.9"}
    )
    assert isinstance(garbled, Rejection)
    assert garbled.reason == "ip_not_allowed"


# -- verification -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (STRIPE_BODY + b" ", stripe_headers(), "signature_mismatch"),
        (STRIPE_BODY, stripe_headers(ts=NOW - 301), "timestamp_too_old"),
        (STRIPE_BODY, stripe_headers(ts=NOW + 301), "timestamp_in_future"),
        (STRIPE_BODY, {}, "missing_header"),
        (STRIPE_BODY, {"Stripe-Signature": "t=1,v1"}, "bad_signature_header"),
    ],
    ids=["tampered", "stale", "future", "missing", "malformed"],
)
async def test_verification_failures_are_401(body: bytes, headers: dict[str, str], reason: str) -> None:
    result = await run(Pipeline(stripe_source(), clock=Clock()), body, headers)
    assert isinstance(result, Rejection)
    assert (result.status, result.reason) == (401, reason)
    assert_generic(401, result.body)


async def test_body_over_the_cap_is_refused_by_verify_and_oversized() -> None:
    pipeline = Pipeline(stripe_source(max_body_bytes=16), clock=Clock())
    admission = await admit(pipeline)
    assert isinstance(admission, Admission)
    result = await pipeline.verify(admission, b"x" * 17, {})
    assert isinstance(result, Rejection)
    assert (result.status, result.reason) == (413, "body_too_large")
    oversized = pipeline.oversized(admission)
    assert (oversized.status, oversized.reason) == (413, "body_too_large")
    assert_generic(413, oversized.body)


async def test_event_id_sources() -> None:
    clock = Clock()
    # the scheme's own id (Standard Webhooks webhook-id / svix-id)
    accepted = await run(Pipeline(svix_source(), clock=clock), SVIX_BODY, svix_headers(msg_id="msg_x"))
    assert isinstance(accepted, Accepted)
    assert (accepted.event_id, accepted.idempotency_key) == ("msg_x", "svix:msg_x")
    # a header (GitHub's delivery id)
    accepted = await run(Pipeline(github_source(), clock=clock), GH_BODY, github_headers("d-1"))
    assert isinstance(accepted, Accepted)
    assert accepted.event_id == "d-1"
    # a JSON field, nested
    nested = b'{"data":{"object":{"id":42}}}'
    pipeline = Pipeline(stripe_source(event_id="json:data.object.id"), clock=clock)
    accepted = await run(pipeline, nested, stripe_headers(nested))
    assert isinstance(accepted, Accepted)
    assert accepted.event_id == "42"
    # none configured and none in the scheme: no idempotency at all
    accepted = await run(Pipeline(stripe_source(event_id=None), clock=clock), STRIPE_BODY, stripe_headers())
    assert isinstance(accepted, Accepted)
    assert (accepted.event_id, accepted.idempotency_key) == (None, None)


@pytest.mark.parametrize(
    "body", [b'{"other":1}', b'{"id":true}', b'{"id":1.5}', b'{"id":null}', b"[1]", b"not json", b'{"id":{}}']
)
async def test_configured_event_id_missing_is_400(body: bytes) -> None:
    result = await run(Pipeline(stripe_source(), clock=Clock()), body, stripe_headers(body))
    assert isinstance(result, Rejection)
    assert (result.status, result.reason) == (400, "event_id_missing")
    assert_generic(400, result.body)


async def test_event_id_is_truncated() -> None:
    body = json.dumps({"id": "e" * 1000}).encode()
    accepted = await run(Pipeline(stripe_source(), clock=Clock()), body, stripe_headers(body))
    assert isinstance(accepted, Accepted)
    assert accepted.event_id == "e" * 256


# -- claim-then-process -------------------------------------------------------------------------------------


async def test_claim_then_process() -> None:
    clock = Clock()
    store = MemoryIdempotencyStore()
    pipeline = Pipeline(stripe_source(idempotency_ttl_s=3600), idempotency=store, clock=clock)
    first = await run(pipeline, STRIPE_BODY, stripe_headers())
    assert isinstance(first, Accepted)
    # while the first is being handled, a copy is told to come back
    busy = await run(pipeline, STRIPE_BODY, stripe_headers())
    assert isinstance(busy, Rejection)
    assert (busy.status, busy.reason, busy.headers) == (409, "in_progress", {"Retry-After": "1"})
    assert_generic(409, busy.body)
    # the handler failed: released, the retry is processed
    await pipeline.finish(first, ok=False, status=500)
    retry = await run(pipeline, STRIPE_BODY, stripe_headers())
    assert isinstance(retry, Accepted)
    await pipeline.finish(retry, ok=True, status=200)
    await pipeline.finish(retry, ok=False, status=500)  # a second finish changes nothing
    duplicate = await run(pipeline, STRIPE_BODY, stripe_headers())
    assert isinstance(duplicate, Rejection)
    assert (duplicate.status, duplicate.reason, duplicate.body) == (200, "duplicate", DUPLICATE)
    # remembered for idempotency_ttl_s, then forgotten
    clock.now += 3601
    late = await run(pipeline, STRIPE_BODY, stripe_headers(ts=int(clock.now)))
    assert isinstance(late, Accepted)


async def test_a_crashed_claim_expires_after_its_lease() -> None:
    clock = Clock()
    pipeline = Pipeline(svix_source(), clock=clock)
    crashed = await run(pipeline, SVIX_BODY, svix_headers())
    assert isinstance(crashed, Accepted)  # and never finished
    clock.now += 30
    assert isinstance(await run(pipeline, SVIX_BODY, svix_headers(ts=NOW + 30)), Rejection)
    clock.now += 31
    assert isinstance(await run(pipeline, SVIX_BODY, svix_headers(ts=NOW + 61)), Accepted)


async def test_same_event_id_on_two_sources_is_two_events() -> None:
    store = MemoryIdempotencyStore()
    clock = Clock()
    a = Pipeline(github_source(), idempotency=store, clock=clock)
    b = Pipeline(_renamed(github_source(), "gh2"), idempotency=store, clock=clock)
    first = await run(a, GH_BODY, github_headers("same"))
    assert isinstance(first, Accepted)
    await a.finish(first, ok=True)
    second = await run(b, GH_BODY, github_headers("same"))
    assert isinstance(second, Accepted)


class _FlakyStores:
    """A shared idempotency store and rate limiter that can be unreachable (Redis restarting, say)."""

    def __init__(self) -> None:
        self.down = True
        self._idempotency = MemoryIdempotencyStore()
        self._limiter = MemoryRateLimiter()

    def _check(self) -> None:
        if self.down:
            raise StoreError("Redis inbound store error: ConnectionError: connection refused")

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        self._check()
        return await self._idempotency.claim(key, lease_s=lease_s, now=now)

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        self._check()
        await self._idempotency.complete(key, ttl_s=ttl_s, now=now)

    async def release(self, key: str) -> None:
        self._check()
        await self._idempotency.release(key)

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        self._check()
        return await self._limiter.hit(key, rate=rate, burst=burst, now=now)


async def test_an_unreachable_store_answers_503_and_the_sender_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    stores = _FlakyStores()
    limited = Pipeline(stripe_source(rate_limit_per_s=5), limiter=stores, clock=clock)
    deduplicated = Pipeline(stripe_source(), idempotency=stores, clock=clock)
    with captured_audit(monkeypatch) as captured:
        refused = await admit(limited, headers=lower(stripe_headers()))
        unclaimed = await run(deduplicated, STRIPE_BODY, stripe_headers())
    for rejection, reason in (
        (refused, "rate_limiter_unavailable"),
        (unclaimed, "idempotency_store_unavailable"),
    ):
        assert isinstance(rejection, Rejection)
        assert (rejection.status, rejection.reason) == (503, reason)
        assert json.loads(rejection.body) == {"error": "unavailable"}  # nothing about the store
    assert [d["reason"] for d in decisions(captured)] == [
        "rate_limiter_unavailable",
        "idempotency_store_unavailable",
    ]
    failures = [e for e in captured if e.get("event") == "inbound.store_unavailable"]
    assert [f["store"] for f in failures] == ["rate_limiter", "idempotency_store"]
    # the same pipelines work again once the store is back: the sender's retry goes through
    stores.down = False
    assert isinstance(await admit(limited, headers=lower(stripe_headers())), Admission)
    assert isinstance(await run(deduplicated, STRIPE_BODY, stripe_headers()), Accepted)


def _renamed(source: Source, name: str) -> Source:
    return Source(
        name,
        source.scheme,
        secrets=source.secrets,
        event_id=source.event_id,
        path=f"/hooks/{name}",
    )


# -- audit --------------------------------------------------------------------------------------------------


async def test_audit_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    pipeline = Pipeline(stripe_source(), clock=clock)
    with captured_audit(monkeypatch) as captured:
        admission = await admit(pipeline, headers=lower(stripe_headers()))
        assert isinstance(admission, Admission)
        assert decisions(captured) == []  # passing admission is not a decision yet
        clock.now += 0.25
        accepted = await pipeline.verify(admission, STRIPE_BODY, lower(stripe_headers()))
        assert isinstance(accepted, Accepted)
        assert decisions(captured) == []
        await pipeline.finish(accepted, ok=True, status=204)
        await run(pipeline, STRIPE_BODY, stripe_headers())
        await run(pipeline, b"{}", stripe_headers(), scheme="http")
    lines = decisions(captured)
    assert len(lines) == 3
    for line in lines:
        assert set(line) >= AUDIT_FIELDS
        assert line["source"] == "stripe"
    accepted_line, duplicate_line, refused_line = lines
    assert accepted_line["decision"] == "accepted"
    assert accepted_line["status"] == 204
    assert accepted_line["key_id"] == "0"
    assert accepted_line["event_id"] == "evt_1NxYz"
    assert accepted_line["latency_ms"] == 250.0
    assert (duplicate_line["decision"], duplicate_line["status"]) == ("duplicate", 200)
    assert (refused_line["decision"], refused_line["reason"], refused_line["event_id"]) == (
        "rejected",
        "https_required",
        None,
    )
