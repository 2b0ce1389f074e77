"""The exception hierarchy: every error hookgate raises on purpose derives from `HookgateError`.

::

    HookgateError                   root; ``exit_code`` for the CLI
    ├── ConfigError                 operator input is wrong (option, config file, endpoint settings); exit 2
    │   └── KeyFormatError          a secret or key cannot be parsed or is of the wrong kind
    ├── VerificationError           a request failed a check; ``status_hint`` (HTTP), ``reason`` (audit)
    │   ├── MalformedError          a header, body, token or key inside the request cannot be parsed (400)
    │   ├── SignatureError          no signature/credential matched (401)
    │   ├── TimestampError          the timestamp or expiry is outside the accepted window (401)
    │   └── ReplayError             the event/token id was already seen (409)
    ├── OAuth2Error                 a token endpoint refused or answered garbage
    ├── StoreError                  the store failed or is inconsistent (driver errors are translated here)
    │   ├── NotFoundError           a requested record does not exist
    │   ├── ConflictError           a version-checked write lost to a concurrent change of the record
    │   ├── DuplicateError          a record with the same unique id or name already exists
    │   └── InvalidQueryError       a listing's cursor or limit is not one the store accepts (caller input)
    ├── DeliveryError               an outbound request could not be made; ``error_class`` for the log
    │   └── SSRFError               the target address is not allowed
    └── JwksUnavailableError        a sender's JWKS cannot be fetched or used (inbound answers 503)

Third-party exceptions (binascii, json, cryptography, joserfc, sqlite3, asyncpg, aiohttp, redis) are
translated
into these at exactly one boundary per adapter, so callers handle our types only. ``reason`` strings are
internal: they go to the audit log, never into a response body sent to a webhook sender.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "DuplicateError",
    "HookgateError",
    "InvalidQueryError",
    "JwksUnavailableError",
    "KeyFormatError",
    "MalformedError",
    "NotFoundError",
    "OAuth2Error",
    "ReplayError",
    "SSRFError",
    "SignatureError",
    "StoreError",
    "TimestampError",
    "VerificationError",
]


class HookgateError(Exception):
    """Root of every error hookgate raises deliberately."""

    exit_code: int = 1


class ConfigError(HookgateError):
    """Operator-supplied configuration is invalid; the message says exactly what and where."""

    exit_code = 2


class KeyFormatError(ConfigError):
    """A secret or key cannot be parsed, or is not the kind of key the scheme needs."""


class VerificationError(HookgateError):
    """A webhook request failed verification.

    ``reason`` is a short machine-friendly code for the audit log (``signature_mismatch``,
    ``timestamp_too_old`` ...); ``status_hint`` is the HTTP status a receiver should answer. Neither the
    message nor the reason ever contains a secret or a signature value.
    """

    status_hint: int = 401
    default_reason: str = "verification_failed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class MalformedError(VerificationError):
    """Something in the request cannot be parsed: header syntax, base64, JSON, token structure, key."""

    status_hint = 400
    default_reason = "malformed"


class SignatureError(VerificationError):
    """No signature or credential matched any of the configured keys."""

    default_reason = "signature_mismatch"


class TimestampError(VerificationError):
    """The request's timestamp or token lifetime is outside the accepted window."""

    default_reason = "timestamp_out_of_window"


class ReplayError(VerificationError):
    """The event or token id was already processed."""

    status_hint = 409
    default_reason = "replay"


class OAuth2Error(HookgateError):
    """A token endpoint refused the request or answered something that is not a token response.

    ``error`` carries the RFC 6749 error code when the endpoint sent one (``invalid_client`` ...).
    """

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class StoreError(HookgateError):
    """The store failed or holds something inconsistent."""


class NotFoundError(StoreError):
    """A requested record does not exist (or is not visible to the caller)."""


class ConflictError(StoreError):
    """The record changed since it was read (its version moved on): read it again and reapply the change."""


class DuplicateError(StoreError):
    """A record with the same unique id or name (or token hash) already exists; nothing was written."""


class InvalidQueryError(StoreError):
    """A listing was asked for with a cursor this store did not issue or a limit out of range."""


class DeliveryError(HookgateError):
    """An outbound request could not be made at all (as opposed to a non-2xx answer).

    ``error_class`` is what the attempt log records: ``connect``, ``tls``, ``timeout``, ``protocol``,
    ``bad_url``, ``insecure_url``, ``tls_config`` or ``ssrf``.
    """

    default_error_class = "delivery"

    def __init__(self, message: str, *, error_class: str | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class or self.default_error_class


class SSRFError(DeliveryError):
    """The target resolves to an address that outbound delivery must not reach."""

    default_error_class = "ssrf"


class JwksUnavailableError(HookgateError):
    """A sender's JWKS could not be fetched or is not a usable key set: not the request's fault (the
    receiver answers 503 so the sender retries), and not a configuration error either."""
