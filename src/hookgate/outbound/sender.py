"""Send one delivery's request: build and sign it, authenticate it (OAuth2 token, JWS signing key), POST it.

The worker decides what to send and what an outcome means; this module is the only part of it that talks to
the transport, the request builder, the token cache and the key ring. It never raises for anything the
endpoint or its configuration did: such failures come back as a `Sent` with an error class, so the worker
records them as attempts. Only our own store failing (reading the signing key) raises `StoreError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hookgate.crypto import SecretBox
from hookgate.errors import DeliveryError, HookgateError, OAuth2Error, StoreError
from hookgate.keyring import KeyRing
from hookgate.outbound.oauth import TokenCache
from hookgate.outbound.request import OutgoingRequest, RequestBuilder
from hookgate.outbound.transport import Response, Transport
from hookgate.schemes.oauth2 import bearer_headers
from hookgate.store.base import Claim

__all__ = ["Sender", "Sent", "origin"]


@dataclass(frozen=True, slots=True)
class Sent:
    """What came of sending one request: a response, or the class of error that prevented one."""

    response: Response | None
    error_class: str | None
    excerpt: str
    duration_ms: float
    # the headers of the request sent, redacted (None when no request was sent)
    request_headers: dict[str, str] | None = None

    @property
    def status_code(self) -> int | None:
        return self.response.status if self.response is not None else None


def origin(url: str) -> str:
    # Paths and query strings can carry credentials (Slack-style hook URLs): logs get the origin only.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].rsplit('@', 1)[-1]}"


class Sender:
    """Builds, signs, authenticates and sends requests for a worker (one transport, one token cache)."""

    def __init__(
        self,
        transport: Transport,
        box: SecretBox | None,
        keyring: KeyRing | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._builder = RequestBuilder(box)
        self._keyring = keyring
        self._tokens = TokenCache(transport, clock=clock)
        self._clock = clock

    async def send(self, claim: Claim, started: float) -> Sent:
        """Build, sign and send one request; never raises for anything the endpoint or its config did."""
        endpoint = claim.endpoint
        recorded: dict[str, str] | None = None
        try:
            signing_key = None
            if self._keyring is not None and self._builder.wants_signing_key(endpoint):
                signing_key = await self._keyring.active_signer()
            request = self._builder.build(claim.message, endpoint, now=started, signing_key=signing_key)
            token = None
            headers = request.headers
            if request.oauth is not None:
                token = await self._tokens.get(
                    request.oauth_key,
                    request.oauth,
                    insecure_ok=request.insecure_ok,
                    ssl_context=request.ssl_context,
                )
                headers = {**headers, **bearer_headers(token, request.oauth, b"").headers}
            recorded = request.recorded_headers
            response = await self._post(request, headers)
            if response.status == 401 and request.oauth is not None and token is not None:
                # the token may have been revoked early: fetch a new one once before counting a failure
                token = await self._tokens.refresh(
                    request.oauth_key,
                    request.oauth,
                    token,
                    insecure_ok=request.insecure_ok,
                    ssl_context=request.ssl_context,
                )
                headers = {**request.headers, **bearer_headers(token, request.oauth, b"").headers}
                response = await self._post(request, headers)
        except DeliveryError as exc:
            return Sent(None, exc.error_class, str(exc), (self._clock() - started) * 1000.0, recorded)
        except OAuth2Error as exc:
            # the token endpoint's refusal or failure is the attempt's error: recorded, then retried
            return Sent(None, "oauth2", str(exc), (self._clock() - started) * 1000.0)
        except StoreError:
            # our own store failed (reading the signing key): not the endpoint's doing, the worker defers it
            raise
        except HookgateError as exc:
            # signing or configuration failure: no request left; it is retried like any failure, and the
            # attempt log says why (the message names the setting, never a secret)
            return Sent(None, "config", str(exc), 0.0)
        return Sent(response, None, response.excerpt, response.duration_ms, recorded)

    async def _post(self, request: OutgoingRequest, headers: dict[str, str]) -> Response:
        return await self._transport.send(
            "POST",
            request.url,
            headers,
            request.body,
            timeout_s=request.timeout_s,
            insecure_ok=request.insecure_ok,
            ssl_context=request.ssl_context,
        )
