"""Fixtures every test package shares: a fixed clock, recording receivers on loopback (plain and TLS,
from `hookgate.testing`) and a private CA for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from hookgate.testing import FixedClock, RecordingReceiver
from tests.support import MakeReceiver, server_tls


@pytest.fixture
def clock() -> FixedClock:
    """A clock at 1_700_000_000 that moves only when the test moves it."""
    return FixedClock()


@pytest.fixture
def receivers() -> Iterator[MakeReceiver]:
    """Start `RecordingReceiver`s (``receivers(respond, **options)``); all are closed after the test."""
    started: list[RecordingReceiver] = []

    def make(*args: Any, **options: Any) -> RecordingReceiver:
        receiver = RecordingReceiver(*args, **options).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.close()


@pytest.fixture
def receiver(receivers: MakeReceiver) -> RecordingReceiver:
    """A receiver answering 200 to everything (``receiver.respond`` may be changed)."""
    return receivers()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A private CA the TLS receivers' certificates come from (trust it with ``tls_ca.configure_trust``)."""
    return trustme.CA()


@pytest.fixture
def tls_receiver(receivers: MakeReceiver, tls_ca: trustme.CA) -> RecordingReceiver:
    """An HTTPS receiver with a certificate from `tls_ca` for 127.0.0.1 and localhost."""
    return receivers(ssl_context=server_tls(tls_ca))
