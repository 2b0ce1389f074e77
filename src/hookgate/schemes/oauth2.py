"""OAuth2 client credentials (RFC 6749 section 4.4), sans-I/O: build the token request, parse the response,
and decide when a cached token must be refreshed.

The delivery engine does the I/O: it sends `TokenRequest` through its SSRF-guarded transport, hands the status
and body to `parse_token_response`, and asks `TokenPolicy.needs_refresh` before each use. Nothing here reads
the clock: ``now`` is passed in.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hookgate.errors import ConfigError, OAuth2Error
from hookgate.keys import Secret
from hookgate.schemes._base import Signed
from hookgate.schemes.headers import check_header_name

__all__ = [
    "AUTH_METHODS",
    "ClientCredentials",
    "Token",
    "TokenPolicy",
    "TokenRequest",
    "bearer_headers",
    "build_token_request",
    "parse_token_response",
]

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MAX_RESPONSE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What an endpoint's owner gives us to obtain tokens from their authorization server."""

    token_url: str
    client_id: str
    client_secret: Secret = field(repr=False)
    scope: str | None = None
    audience: str | None = None
    auth_method: str = "client_secret_basic"
    header: str = "Authorization"

    def __post_init__(self) -> None:
        # token_url is checked by the one URL rule (hookgate.policy.url) where an endpoint's auth settings
        # are parsed; a second, looser copy of that rule here would drift from it
        if not self.client_id:
            raise ConfigError("client_id must not be empty")
        if not len(self.client_secret):
            raise ConfigError("client_secret must not be empty")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(f"auth_method must be one of {AUTH_METHODS}, not {self.auth_method!r}")
        check_header_name(self.header)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """An HTTP request to make: POST ``url`` with ``headers`` and the form-encoded ``body``."""

    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it stops being usable (``expires_at`` None: the server gave no lifetime)."""

    access_token: Secret = field(repr=False)
    token_type: str
    obtained_at: float
    expires_at: float | None
    scope: str | None = None


def build_token_request(creds: ClientCredentials) -> TokenRequest:
    """The client-credentials grant request, with the client authenticated as configured.

    ``client_secret_basic`` form-urlencodes id and secret before base64 (RFC 6749 section 2.3.1), which
    is what makes ids and secrets containing ``:`` or non-ASCII characters work with conforming servers.
    """
    form: list[tuple[str, str]] = [("grant_type", "client_credentials")]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    secret = creds.client_secret.reveal().decode("utf-8")
    if creds.auth_method == "client_secret_basic":
        pair = f"{urllib.parse.quote_plus(creds.client_id)}:{urllib.parse.quote_plus(secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    else:
        form += [("client_id", creds.client_id), ("client_secret", secret)]
    if creds.scope:
        form.append(("scope", creds.scope))
    if creds.audience:
        form.append(("audience", creds.audience))
    return TokenRequest(creds.token_url, headers, urllib.parse.urlencode(form).encode("ascii"))


def parse_token_response(status: int, body: bytes, *, now: float) -> Token:
    """Turn the token endpoint's answer into a `Token`, or raise `OAuth2Error` saying what went wrong.

    Error responses (RFC 6749 section 5.2) keep their ``error`` code; the ``error_description`` is included in
    the message because it comes from the receiver's server, never from our secrets.
    """
    if len(body) > MAX_RESPONSE:
        raise OAuth2Error(f"token response is larger than {MAX_RESPONSE} bytes", status=status)
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not 200 <= status < 300:
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            desc = data.get("error_description")
            detail = f": {str(desc)[:200]}" if isinstance(desc, str) else ""
            raise OAuth2Error(
                f"token endpoint refused ({status} {data['error']}){detail}",
                error=data["error"],
                status=status,
            )
        raise OAuth2Error(f"token endpoint answered HTTP {status}", status=status)
    if not isinstance(data, dict):
        raise OAuth2Error("token response is not a JSON object", status=status)
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuth2Error("token response has no access_token", status=status)
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in access_token):
        raise OAuth2Error("access_token contains characters not allowed in a header", status=status)
    token_type = data.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise OAuth2Error(f"token_type {token_type!r} is not Bearer", status=status)
    expires_in = data.get("expires_in")
    expires_at: float | None = None
    if expires_in is not None:
        # some servers send the number as a string; anything else non-numeric is an error
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            raise OAuth2Error("expires_in is not a number", status=status) from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise OAuth2Error("expires_in is not a positive number", status=status)
        expires_at = now + seconds
    scope = data.get("scope")
    return Token(
        Secret(access_token.encode("ascii")),
        "Bearer",
        obtained_at=now,
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else None,
    )


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """When a cached token must be replaced.

    A token is refreshed ``skew`` seconds before it expires, so a request never leaves with a token that
    expires in flight; for short tokens the skew shrinks to the last ``1 - refresh_fraction`` of the lifetime
    (a 60 s token is renewed after 48 s, not after 30 s). Tokens without ``expires_in`` are reused for
    ``default_lifetime`` seconds.
    """

    skew: float = 30.0
    refresh_fraction: float = 0.8
    default_lifetime: float = 300.0

    def refresh_at(self, token: Token) -> float:
        if token.expires_at is None:
            return token.obtained_at + self.default_lifetime
        lifetime = token.expires_at - token.obtained_at
        # the skew, but never more than the last (1 - fraction) of a short token's life
        return token.expires_at - min(self.skew, lifetime * (1 - self.refresh_fraction))

    def needs_refresh(self, token: Token | None, now: float) -> bool:
        return token is None or now >= self.refresh_at(token)


def bearer_headers(token: Token, creds: ClientCredentials, body: bytes) -> Signed:
    """The header that carries the token on a webhook request."""
    return Signed({creds.header: "Bearer " + token.access_token.reveal().decode("ascii")}, body)


def parse_form(body: bytes) -> Mapping[str, str]:
    """Parse a form body (used by test token servers and the demo's local token endpoint)."""
    return dict(urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True))
