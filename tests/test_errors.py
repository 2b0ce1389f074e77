"""The exception tree: declared attributes (no attribute set from outside), and where each error sits."""

from __future__ import annotations

import socket

import pytest

from hookgate.errors import (
    ConfigError,
    DeliveryError,
    HookgateError,
    JwksUnavailableError,
    MalformedError,
    SSRFError,
    StoreError,
    VerificationError,
)
from hookgate.inbound.jwks import JwksFetcher
from hookgate.outbound.transport import delivery_error
from hookgate.policy.ssrf import AddressPolicy


def test_a_delivery_error_declares_its_error_class() -> None:
    assert DeliveryError("x").error_class == "delivery"
    assert DeliveryError("x", error_class="tls").error_class == "tls"
    assert SSRFError("x").error_class == "ssrf"
    assert type(delivery_error("x", "ssrf")) is SSRFError
    assert delivery_error("x", "timeout").error_class == "timeout"


def test_verification_errors_carry_a_reason_and_a_status_hint() -> None:
    err = MalformedError("bad header", reason="header_malformed")
    assert (err.reason, err.status_hint) == ("header_malformed", 400)
    assert VerificationError("x").reason == "verification_failed"


@pytest.mark.parametrize(
    "kind", [ConfigError, VerificationError, StoreError, DeliveryError, JwksUnavailableError]
)
def test_every_error_is_a_hookgate_error(kind: type[Exception]) -> None:
    assert issubclass(kind, HookgateError)


async def test_an_unreachable_jwks_is_not_a_configuration_error() -> None:
    # a bound socket that does not listen: connecting is refused at once (the SSRF guard allows loopback here)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = int(closed.getsockname()[1])
        fetcher = JwksFetcher(
            f"http://127.0.0.1:{port}/jwks.json",
            insecure_ok=True,
            address_policy=AddressPolicy(["127.0.0.0/8"]),
        )
        try:
            with pytest.raises(JwksUnavailableError, match="unreachable") as info:
                await fetcher.verifier()
            assert not isinstance(info.value, ConfigError)
        finally:
            await fetcher.close()
