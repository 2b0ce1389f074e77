"""What an attempt records of the request headers it sent: every header, with signatures and credentials
replaced by ``[redacted]``.

A header is redacted when its name is a known signature or credential header, or when a signer or the
client authentication produced it and it is not one of the framing headers those add beside the signature
(ids, timestamps, event names): a scheme added later is redacted by default, never shown by default.
Custom headers are the endpoint's configuration and are kept. The decision per header name is remembered
per endpoint version (`HeaderRecorder`), so the delivery path pays one dictionary lookup per header.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = ["REDACTED", "HeaderRecorder", "is_secret_header"]

REDACTED = "[redacted]"

# named here so that they are redacted wherever they come from (a custom header too)
_ALWAYS = frozenset(
    {
        "webhook-signature",
        "svix-signature",
        "stripe-signature",
        "x-slack-signature",
        "authorization",
        "proxy-authorization",
    }
)
_ALWAYS_PREFIXES = ("x-hub-signature", "x-shopify-hmac-")

# What signers add beside the signature to identify the event: no secret in them, and a receiver's owner
# debugging a refusal needs to see them.
_FRAMING = frozenset(
    {
        "content-type",
        "webhook-id",
        "webhook-timestamp",
        "svix-id",
        "svix-timestamp",
        "x-slack-request-timestamp",
        "x-github-event",
        "x-github-delivery",
        "x-shopify-topic",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-triggered-at",
    }
)


def is_secret_header(name: str, *, from_signer: bool) -> bool:
    """Whether the value of header ``name`` must never be stored (``from_signer``: a signer or the client
    authentication produced it, rather than the endpoint's custom headers)."""
    lower = name.lower()
    if lower in _ALWAYS or lower.startswith(_ALWAYS_PREFIXES):
        return True
    return from_signer and lower not in _FRAMING


class HeaderRecorder:
    """The redacted copy of one endpoint version's requests' headers, its decisions remembered by name."""

    __slots__ = ("_added", "_secret")

    def __init__(self, added: Collection[str] = ()) -> None:
        # headers added after the request is built (the OAuth2 bearer header): recorded as redacted
        self._added = dict.fromkeys(added, REDACTED)
        self._secret: dict[str, bool] = {}

    def record(self, headers: Mapping[str, str], signer_names: Collection[str]) -> dict[str, str]:
        """``headers`` as they may be stored; ``signer_names`` are the lower-cased names signers produced."""
        secret = self._secret
        recorded: dict[str, str] = {}
        for name, value in headers.items():
            hidden = secret.get(name)
            if hidden is None:
                hidden = secret[name] = is_secret_header(name, from_signer=name.lower() in signer_names)
            recorded[name] = REDACTED if hidden else value
        if self._added:
            recorded.update(self._added)
        return recorded
