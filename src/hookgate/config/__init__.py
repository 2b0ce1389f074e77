"""hookgate's configuration models: the process settings and an endpoint's typed configuration.

`Settings` (``hookgate.config.settings``) is what a process starts with; `EndpointConfig`
(``hookgate.config.endpoint``) is what an endpoint's owner asks for, validated by one rule per field.
"""

from __future__ import annotations

from hookgate.config.endpoint import DeliveryPolicy, EndpointConfig, ParsedEndpoint
from hookgate.config.sections import (
    AUTH_TYPES,
    PAYLOAD_FORMATS,
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    JsonPayload,
    JwePayload,
    JwsPayload,
    JwtAuth,
    NoAuth,
    OAuth2Auth,
    PayloadConfig,
    TlsConfig,
)
from hookgate.config.settings import Settings, load_settings, master_key_box
from hookgate.config.signing import SIGNATURE_SCHEMES

__all__ = [
    "AUTH_TYPES",
    "PAYLOAD_FORMATS",
    "SIGNATURE_SCHEMES",
    "ApiKeyAuth",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "DeliveryPolicy",
    "EndpointConfig",
    "JsonPayload",
    "JwePayload",
    "JwsPayload",
    "JwtAuth",
    "NoAuth",
    "OAuth2Auth",
    "ParsedEndpoint",
    "PayloadConfig",
    "Settings",
    "TlsConfig",
    "load_settings",
    "master_key_box",
]
