"""Turn a claimed delivery into the exact HTTP request to send: body, signature headers, custom headers.

The endpoint's sealed secrets are opened with the master `SecretBox` and turned into a signer once per
endpoint version (cached until the endpoint changes or a rotated secret expires), because opening and parsing
keys per request would cost more than the signature itself. Signature and framing headers always win over an
endpoint's custom headers: a custom header can add information, never replace what we sign.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass

from hookgate.config.endpoint import RESERVED_HEADERS
from hookgate.config.references import REFERENCE_TTL_S, resolve_secret
from hookgate.config.signing import SIGNATURE_SCHEMES
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.models import Endpoint, Message
from hookgate.outbound.redact import HeaderRecorder
from hookgate.outbound.security import Security, has_references, load_security
from hookgate.schemes._base import EventSigner, Signed, Signer
from hookgate.schemes.jose import JweEncrypter, JwsSigner
from hookgate.schemes.oauth2 import ClientCredentials
from hookgate.schemes.registry import build_signer
from hookgate.tls import build_client_context
from hookgate.vault import EndpointSecrets, open_secrets

__all__ = ["OUTBOUND_SCHEMES", "OutgoingRequest", "RequestBuilder"]

OUTBOUND_SCHEMES = SIGNATURE_SCHEMES
_JSON = "application/json"
_JOSE = "application/jose"


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """One attempt's request. ``oauth`` is set when the worker must add a bearer token it fetches."""

    url: str
    headers: dict[str, str]
    body: bytes
    timeout_s: float
    insecure_ok: bool
    ssl_context: ssl.SSLContext | None = None
    oauth: ClientCredentials | None = None
    oauth_key: str = ""
    # what the attempt records: these headers with signatures and credentials redacted (the OAuth2 bearer
    # header the sender adds included)
    recorded_headers: dict[str, str] | None = None

    def __repr__(self) -> str:
        # headers carry signatures and credentials: never print them
        return f"OutgoingRequest(headers=<{len(self.headers)}>, body=<{len(self.body)} bytes>)"


@dataclass(slots=True)
class _Prepared:
    """Everything derived from one version of an endpoint's configuration and secrets."""

    sealed: bytes
    updated_at: float
    scheme: str
    signature: Signer | None
    # the signature again when it names the event in headers (provider presets), decided once per version:
    # a runtime protocol check costs more per request than some signatures
    event_signature: EventSigner | None
    security: Security
    auth: Signer | None
    oauth: ClientCredentials | None
    ssl_context: ssl.SSLContext | None
    valid_until: float | None
    encrypters: dict[int, JweEncrypter]
    recorder: HeaderRecorder


class RequestBuilder:
    """Builds signed requests; one per worker, holding the per-endpoint cache."""

    __slots__ = ("_box", "_cache")

    def __init__(self, box: SecretBox | None) -> None:
        self._box = box
        self._cache: dict[str, _Prepared] = {}

    @staticmethod
    def wants_signing_key(endpoint: Endpoint) -> bool:
        """Whether building this endpoint's request needs hookgate's active JWS key (JWS, signed JWE)."""
        return endpoint.config.payload.needs_signing_key

    def _prepare(self, endpoint: Endpoint, now: float) -> _Prepared:
        cached = self._cache.get(endpoint.id)
        if (
            cached is not None
            and cached.sealed == endpoint.secrets_sealed
            and cached.updated_at == endpoint.updated_at
            and cached.scheme == endpoint.config.scheme
            and (cached.valid_until is None or cached.valid_until > now)
        ):
            return cached
        config = endpoint.config
        if config.scheme not in SIGNATURE_SCHEMES:
            raise ConfigError(f"endpoint {endpoint.id} has unknown signature scheme {config.scheme!r}")
        secrets = EndpointSecrets()
        if endpoint.secrets_sealed:
            if self._box is None:
                raise ConfigError("no master key configured: cannot open endpoint secrets")
            secrets = open_secrets(self._box, endpoint.id, endpoint.secrets_sealed)
        security = load_security(config, secrets)
        signature: Signer | None = None
        if config.scheme != "none":
            signature = build_signer(
                config.scheme,
                [resolve_secret(v, "signature secret") for v in secrets.active_secrets(now)],
                [resolve_secret(k.decode(), "signature key").encode() for k in secrets.active_keys(now)],
                options=config.scheme_options,
            )
        oauth = security.oauth2()
        valid_until = secrets.valid_until(now)
        if has_references(secrets):
            # env:/file: secrets are re-read now and then, so rotating them needs no endpoint update
            valid_until = min(valid_until or math.inf, now + REFERENCE_TTL_S)
        prepared = _Prepared(
            sealed=endpoint.secrets_sealed,
            updated_at=endpoint.updated_at,
            scheme=config.scheme,
            signature=signature,
            event_signature=signature if isinstance(signature, EventSigner) else None,
            security=security,
            auth=security.auth_signer(),
            oauth=oauth,
            ssl_context=None if security.tls.is_default else build_client_context(security.tls),
            valid_until=valid_until,
            encrypters={},
            recorder=HeaderRecorder(() if oauth is None else (oauth.header,)),
        )
        self._cache[endpoint.id] = prepared
        return prepared

    def build(
        self, message: Message, endpoint: Endpoint, *, now: float, signing_key: JwsSigner | None = None
    ) -> OutgoingRequest:
        """The request for one attempt, in this order: payload (JSON, or a JWS/JWE of it), the signature
        over the bytes actually sent, client authentication, then custom headers. The message id is the
        webhook id, stable across retries, so the receiver can deduplicate; the timestamp is the attempt's."""
        prepared = self._prepare(endpoint, now)
        headers = {"Content-Type": _JSON}
        body = message.payload
        security = prepared.security
        if security.payload.format == "jws":
            if signing_key is None:
                raise ConfigError("JWS payloads need an active signing key in hookgate's key ring")
            token = signing_key.sign(body, msg_id=message.id, now=now)
            body, headers["Content-Type"] = token.body, token.content_type or _JOSE
        elif security.payload.format == "jwe":
            encrypter = self._encrypter(prepared, signing_key)
            token = encrypter.sign(body, msg_id=message.id, now=now)
            body, headers["Content-Type"] = token.body, token.content_type or _JOSE
        parts: list[Signed] = []
        if prepared.event_signature is not None:
            # provider presets name the event in headers their receiving libraries require
            parts.append(
                prepared.event_signature.sign_event(
                    body,
                    msg_id=message.id,
                    event_type=message.event_type,
                    created_at=message.created_at,
                    now=now,
                )
            )
        elif prepared.signature is not None:
            parts.append(prepared.signature.sign(body, msg_id=message.id, now=now))
        if prepared.auth is not None:
            parts.append(prepared.auth.sign(body, msg_id=message.id, now=now))
        protected: set[str] = set()
        for signed in parts:
            headers.update(signed.headers)
            protected.update(name.lower() for name in signed.headers)
        if prepared.oauth is not None:
            protected.add(prepared.oauth.header.lower())
        config = endpoint.config
        for name, value in config.headers.items():
            lower = name.lower()
            if lower not in RESERVED_HEADERS and lower not in protected:
                headers[name] = value
        return OutgoingRequest(
            url=config.url,
            headers=headers,
            body=body,
            timeout_s=config.policy.timeout_s,
            insecure_ok=config.allow_insecure,
            ssl_context=prepared.ssl_context,
            oauth=prepared.oauth,
            oauth_key=f"{endpoint.id}@{endpoint.updated_at}",
            recorded_headers=prepared.recorder.record(headers, protected),
        )

    @staticmethod
    def _encrypter(prepared: _Prepared, signing_key: JwsSigner | None) -> JweEncrypter:
        payload = prepared.security.jwe
        if payload is None:
            raise ConfigError("the endpoint's payload format is not JWE")
        if payload.sign and signing_key is None:
            raise ConfigError("signed JWE payloads need an active signing key in hookgate's key ring")
        slot = id(signing_key) if payload.sign else 0
        encrypter = prepared.encrypters.get(slot)
        if encrypter is None:
            encrypter = payload.encrypter(signing_key)
            prepared.encrypters = {slot: encrypter}  # one key-ring signer at a time
        return encrypter
