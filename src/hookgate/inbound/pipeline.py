"""The inbound decision pipeline: cheapest rejection first, then the signature, then idempotency.

Order: HTTPS -> IP allowlist -> rate limit -> body size -> signature/token over the raw bytes -> timestamp
window (inside the scheme's verifier) -> idempotency claim -> (the caller runs its handler) -> `finish`.
Framework adapters (ASGI, WSGI, FastAPI, the gateway) do only I/O and go through
`hookgate.inbound.driver`, which calls `admit` with what they know before reading the body; they read at
most ``max_body_bytes`` + 1 bytes, call `verify`, run the handler, then `finish`.

Every rejection carries a generic body (``{"error": "unauthorized"}``...) that says nothing about which check
failed, and every decision writes one audit line (source, decision, reason, status, client IP, event id,
latency), never a secret, a signature or a body. A store that fails (rate limiter, idempotency store) is
answered 503, audited like any other refusal: the sender retries later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from hookgate.errors import (
    ConfigError,
    JwksUnavailableError,
    SignatureError,
    StoreError,
    VerificationError,
)
from hookgate.inbound.jwks import JwksFetcher
from hookgate.inbound.net import address_allowed, client_address, request_is_https
from hookgate.inbound.source import Source
from hookgate.inbound.stores import (
    ClaimState,
    IdempotencyStore,
    MemoryIdempotencyStore,
    MemoryRateLimiter,
    RateLimiter,
)
from hookgate.models import InboundDecision
from hookgate.policy.ratelimit import rate_limit_headers
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes._base import Verified, Verifier, get_header

__all__ = ["Accepted", "Admission", "Pipeline", "Rejection", "unrouted"]

audit = structlog.get_logger("hookgate.inbound")

_GENERIC = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
_CLAIM_LEASE_S = 60.0
_NOT_OUR_KEY = frozenset({"unknown_key", "signature_mismatch"})  # a static key did not match: try the JWKS
_DUPLICATE_BODY = b'{"status":"already processed"}'
_UNAVAILABLE_BODY = b'{"error":"unavailable"}'


@dataclass(frozen=True, slots=True)
class Rejection:
    """An answer that ends the request: status, a generic JSON body, extra headers, and the audit reason."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not self.body:
            body = json.dumps(
                {"error": _GENERIC.get(self.status, "rejected")}, separators=(",", ":")
            ).encode()
            object.__setattr__(self, "body", body)


@dataclass(frozen=True, slots=True)
class Admission:
    """A request that passed the checks that need no body; carries what later stages need."""

    client_ip: str | None
    started: float


@dataclass(slots=True)
class Accepted:
    """A verified, newly claimed event: hand ``verified`` to the handler, then call `Pipeline.finish`."""

    source: str
    verified: Verified
    event_id: str | None
    client_ip: str | None
    started: float
    idempotency_key: str | None = None
    finished: bool = False
    body: bytes = b""  # the raw bytes that were verified, for the adapter to replay or store


class Pipeline:
    """The checks for one source. Stores default to bounded in-memory ones (one process)."""

    def __init__(
        self,
        source: Source,
        *,
        idempotency: IdempotencyStore | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
        observer: Callable[[str, str], None] | None = None,
        decisions: Callable[[InboundDecision], None] | None = None,
    ) -> None:
        self.source = source
        self._observer = observer  # (source, decision) for every request, e.g. a metrics counter
        # every decision with its reason and peer, e.g. a `DecisionLog` (it must not block: no await)
        self._decisions = decisions
        self._idempotency = idempotency if idempotency is not None else MemoryIdempotencyStore()
        self._limiter = limiter if limiter is not None else MemoryRateLimiter()
        self._clock = clock
        self._jwks: JwksFetcher | None = None
        if source.jwks_url is not None:
            self._jwks = JwksFetcher(
                source.jwks_url,
                address_policy=AddressPolicy(source.jwks_allow),
                insecure_ok=source.jwks_insecure,
                tls=source.jwks_tls,
                clock=clock,
                claims=source.claim_rules,
            )

    # -- before the body --------------------------------------------------------------------------

    async def admit(
        self, *, scheme: str, peer: str | None, headers: Mapping[str, str], content_length: int | None
    ) -> Admission | Rejection:
        """HTTPS, IP allowlist, rate limit, declared body size: everything decidable before reading."""
        started = self._clock()
        src = self.source
        trusted = src.trusted_networks
        client = client_address(peer, get_header(headers, "x-forwarded-for"), trusted)
        if src.require_https and not request_is_https(
            scheme, peer, get_header(headers, "x-forwarded-proto"), trusted
        ):
            return self._reject(Rejection(403, "https_required"), client, None, started)
        if not address_allowed(client, src.allow_networks):
            return self._reject(Rejection(403, "ip_not_allowed"), client, None, started)
        if src.rate_limit_per_s is not None:
            try:
                decision = await self._limiter.hit(
                    f"{src.name}:{client or '?'}", rate=src.rate_limit_per_s, burst=src.burst, now=started
                )
            except StoreError as exc:
                return self._unavailable("rate_limiter", exc, client, None, started)
            if not decision.allowed:
                headers_out = rate_limit_headers(decision.limit, 0, decision.reset_s)
                return self._reject(Rejection(429, "rate_limited", headers_out), client, None, started)
        if content_length is not None and content_length > src.max_body_bytes:
            return self._reject(Rejection(413, "body_too_large"), client, None, started)
        return Admission(client, started)

    # -- with the body ----------------------------------------------------------------------------

    async def verify(
        self, admission: Admission, body: bytes, headers: Mapping[str, str]
    ) -> Accepted | Rejection:
        """Signature and timestamp over the raw bytes, then the idempotency claim."""
        src = self.source
        client, started = admission.client_ip, admission.started
        if len(body) > src.max_body_bytes:
            return self._reject(Rejection(413, "body_too_large"), client, None, started)
        now = self._clock()
        try:
            static = src.verifier_at(now)
        except ConfigError as exc:
            # a secret reference stopped resolving: the operator's problem, and the sender should retry
            audit.error("inbound.secret_unavailable", source=src.name, error=str(exc))
            return self._reject(
                Rejection(503, "secret_unavailable", body=b'{"error":"unavailable"}'), client, None, started
            )
        try:
            verified = await self._verify(static, body, headers, now)
        except JwksUnavailableError:
            # the sender's JWKS cannot be fetched: not their fault, not an ack; they retry later
            return self._reject(Rejection(503, "jwks_unavailable"), client, None, started)
        except VerificationError as exc:
            # one answer for every failed check, whatever the error's ``status_hint`` (400 for a malformed
            # header, say): a prober learns nothing; the audit line keeps the precise reason
            return self._reject(Rejection(401, exc.reason), client, None, started)
        event_id = self._event_id(verified, headers)
        if src.event_id is not None and event_id is None:
            return self._reject(Rejection(400, "event_id_missing"), client, None, started)
        accepted = Accepted(src.name, verified, event_id, client, started, body=body)
        if event_id is None:
            return accepted
        key = f"{src.name}:{event_id}"
        try:
            state = await self._idempotency.claim(key, lease_s=_CLAIM_LEASE_S, now=self._clock())
        except StoreError as exc:
            return self._unavailable("idempotency_store", exc, client, event_id, started)
        if state is ClaimState.DONE:
            return self._reject(
                Rejection(200, "duplicate", body=_DUPLICATE_BODY),
                client,
                event_id,
                started,
                decision="duplicate",
            )
        if state is ClaimState.IN_PROGRESS:
            # the same event is being handled right now: ask the sender to come back rather than ack it,
            # since the first attempt may still fail
            return self._reject(
                Rejection(409, "in_progress", {"Retry-After": "1"}), client, event_id, started
            )
        accepted.idempotency_key = key
        return accepted

    async def _verify(
        self, static: Verifier | None, body: bytes, headers: Mapping[str, str], now: float
    ) -> Verified:
        if self._jwks is None:
            assert static is not None  # noqa: S101 - Source guarantees it without a JWKS URL
            return static.verify(body, headers, now=now)
        if static is not None:
            try:
                return static.verify(body, headers, now=now)
            except SignatureError as exc:
                if exc.reason not in _NOT_OUR_KEY:
                    raise  # a static key matched and something else is wrong (issuer, audience...)
        verifier = self.source.jwks_verifier(await self._jwks.verifier())
        try:
            return verifier.verify(body, headers, now=now)
        except SignatureError as exc:
            if exc.reason != "unknown_key":
                raise
        # a kid we have not seen: the sender may have rotated; refetch (rate-limited) and try once more
        verifier = self.source.jwks_verifier(await self._jwks.verifier(refresh=True))
        return verifier.verify(body, headers, now=self._clock())

    async def close(self) -> None:
        if self._jwks is not None:
            await self._jwks.close()

    def refuse(self, rejection: Rejection, *, peer: str | None, headers: Mapping[str, str]) -> Rejection:
        """Audit an answer an adapter gives before `admit` ran (a wrong method, a bad Content-Length)."""
        trusted = self.source.trusted_networks
        client = client_address(peer, get_header(headers, "x-forwarded-for"), trusted)
        return self._reject(rejection, client, None, self._clock())

    def oversized(self, admission: Admission) -> Rejection:
        """The answer when the body turned out larger than the cap while being read (no Content-Length)."""
        return self._reject(Rejection(413, "body_too_large"), admission.client_ip, None, admission.started)

    def _event_id(self, verified: Verified, headers: Mapping[str, str]) -> str | None:
        spec = self.source.event_id
        if spec is None:
            return verified.msg_id
        kind, _, name = spec.partition(":")
        if kind == "header":
            value = get_header(headers, name.lower())
            return value[:256] if value else None
        try:
            document = json.loads(verified.payload)
        except (ValueError, UnicodeDecodeError):
            return None
        for part in name.split("."):
            if not isinstance(document, dict) or part not in document:
                return None
            document = document[part]
        if isinstance(document, (str, int)) and not isinstance(document, bool):
            return str(document)[:256]
        return None

    # -- after the handler ------------------------------------------------------------------------

    async def finish(
        self,
        accepted: Accepted,
        *,
        ok: bool,
        status: int | None = None,
        duplicate: bool = False,
        reason: str | None = None,
    ) -> None:
        """Record the handler's outcome: a success remembers the id, a failure releases it for the retry.

        The answer has been decided (or sent) by now, so a failing idempotency store is logged, not raised:
        an unremembered id means a retry is processed again, an unreleased one waits out its lease.
        """
        if accepted.finished:
            return
        accepted.finished = True
        if accepted.idempotency_key is not None:
            try:
                if ok:
                    await self._idempotency.complete(
                        accepted.idempotency_key, ttl_s=self.source.idempotency_ttl_s, now=self._clock()
                    )
                else:
                    await self._idempotency.release(accepted.idempotency_key)
            except StoreError as exc:
                audit.error(
                    "inbound.store_unavailable",
                    source=self.source.name,
                    store="idempotency_store",
                    error=str(exc),
                )
        decision = ("duplicate" if duplicate else "accepted") if ok else "handler_failed"
        reason = reason or (("duplicate" if duplicate else "ok") if ok else "handler_error")
        if self._observer is not None:
            self._observer(self.source.name, decision)
        if self._decisions is not None:
            self._decisions(
                InboundDecision(self.source.name, self._clock(), decision, reason, status, accepted.client_ip)
            )
        audit.info(
            "inbound.decision",
            source=self.source.name,
            decision=decision,
            reason=reason,
            status=status,
            client_ip=accepted.client_ip,
            event_id=accepted.event_id,
            key_id=accepted.verified.key_id,
            latency_ms=round((self._clock() - accepted.started) * 1000.0, 3),
        )

    def _unavailable(
        self, store: str, exc: StoreError, client: str | None, event_id: str | None, started: float
    ) -> Rejection:
        audit.error("inbound.store_unavailable", source=self.source.name, store=store, error=str(exc))
        return self._reject(Rejection(503, f"{store}_unavailable"), client, event_id, started)

    def _reject(
        self,
        rejection: Rejection,
        client: str | None,
        event_id: str | None,
        started: float,
        *,
        decision: str = "rejected",
    ) -> Rejection:
        if self._observer is not None:
            self._observer(self.source.name, decision)
        if self._decisions is not None:
            self._decisions(
                InboundDecision(
                    self.source.name, self._clock(), decision, rejection.reason, rejection.status, client
                )
            )
        audit.info(
            "inbound.decision",
            source=self.source.name,
            decision=decision,
            reason=rejection.reason,
            status=rejection.status,
            client_ip=client,
            event_id=event_id,
            latency_ms=round((self._clock() - started) * 1000.0, 3),
        )
        return rejection


def unrouted(rejection: Rejection, *, peer: str | None) -> Rejection:
    """Audit an answer to a request that reached no source (an unknown path), with ``source=None``.

    There is no source, so no trusted proxies: the client is the peer address.
    """
    audit.info(
        "inbound.decision",
        source=None,
        decision="rejected",
        reason=rejection.reason,
        status=rejection.status,
        client_ip=peer,
        event_id=None,
        latency_ms=0.0,
    )
    return rejection
