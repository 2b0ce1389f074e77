"""An endpoint's authentication, payload protection and TLS at delivery time: its typed configuration joined
with its opened secrets (references resolved now), ready for the request builder.

What is allowed is decided once, when the configuration is saved (`hookgate.config.EndpointConfig`); this
module only puts the two halves back together and builds the signers, client credentials and TLS settings.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookgate.config.endpoint import EndpointConfig
from hookgate.config.references import is_reference, resolve_secret
from hookgate.config.sections import (
    AuthConfig,
    JwePayload,
    NoAuth,
    OAuth2Auth,
    PayloadConfig,
    parse_tls,
)
from hookgate.errors import ConfigError
from hookgate.schemes._base import Signer
from hookgate.schemes.oauth2 import ClientCredentials
from hookgate.tls import TlsSettings, build_client_context
from hookgate.vault import EndpointSecrets

__all__ = ["Security", "has_references", "load_security", "tls_context"]


@dataclass(frozen=True, slots=True)
class Security:
    """The resolved security options of one endpoint: the typed sections plus the resolved credential."""

    auth: AuthConfig
    credential: str | None  # the auth section's secret, resolved (None for no auth)
    payload: PayloadConfig
    tls: TlsSettings

    def __repr__(self) -> str:
        auth, fmt = self.auth, self.payload.format
        return f"Security(auth_type={auth.type!r}, auth={auth!r}, payload={fmt!r}, tls={self.tls!r})"

    def auth_signer(self) -> Signer | None:
        """The header-adding signer for static auth types (None for none and oauth2)."""
        if isinstance(self.auth, (NoAuth, OAuth2Auth)) or self.credential is None:
            return None
        return self.auth.signer(self.credential)

    def oauth2(self) -> ClientCredentials | None:
        if not isinstance(self.auth, OAuth2Auth) or self.credential is None:
            return None
        return self.auth.client(self.credential)

    def needs_signing_key(self) -> bool:
        return self.payload.needs_signing_key

    @property
    def jwe(self) -> JwePayload | None:
        return self.payload if isinstance(self.payload, JwePayload) else None


def load_security(config: EndpointConfig, secrets: EndpointSecrets) -> Security:
    """Join an endpoint's typed configuration with its opened secrets (references resolved now)."""
    by_kind = {e.kind: e.value for e in secrets.entries}
    credential: str | None = None
    if config.auth.credential is not None:
        if "auth" not in by_kind:
            raise ConfigError(f"endpoint auth {config.auth.type} has no stored credential")
        credential = resolve_secret(by_kind["auth"], f"auth.{config.auth.credential}")
    client_key = by_kind.get("tls_key")
    tls = config.tls.settings(resolve_secret(client_key, "tls.client_key") if client_key else None)
    return Security(config.auth, credential, config.payload, tls)


def tls_context(tls: Mapping[str, Any], *, now: float) -> ssl.SSLContext | None:
    """The client context for a ``tls`` section that belongs to no endpoint (a source's JWKS fetch): checked
    like an endpoint's, the key reference resolved now; None for the defaults."""
    config, key = parse_tls(tls, now=now)
    settings = config.settings(resolve_secret(key.value, "tls.client_key") if key else None)
    return None if settings.is_default else build_client_context(settings)


def has_references(secrets: EndpointSecrets) -> bool:
    return any(is_reference(e.value) for e in secrets.entries)
