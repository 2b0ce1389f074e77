"""Test doubles for code that uses hookgate (and for hookgate's own tests): a clock the test sets, a real
HTTP receiver on loopback that records what reached it, and capture of hookgate's log events.

- `FixedClock` goes wherever hookgate takes ``clock=`` (`Hookgate`, its worker, the key ring): time moves only
  when the test moves it. (A worker waiting for a retry that is due "later" waits until the test advances
  the clock.)
- `RecordingReceiver` is an aiohttp server on 127.0.0.1 that runs its own event loop in a thread, so a sync
  test (a CLI run, a ``hookgate worker`` subprocess) and an async test (an in-process worker on the test's
  loop) use it alike. It binds port 0 itself (no port picked first and bound later), optionally speaks TLS
  (and asks for a client certificate when its context does), records every request and answers each with a
  `Reply` chosen by the test: one reply for all, a script, or a callable.
- `capture_logs` collects hookgate's structlog events (and standard-library records) as dicts, whatever
  logging configuration ran before.

The package's modules: ``receiver`` (the receiver and its replies), ``tls`` (server contexts, and a TLS
server that refuses handshakes with an alert), ``logs``. Nothing here is imported by ``import hookgate``.
"""

from __future__ import annotations

from hookgate.testing.logs import CapturedLogs, capture_logs
from hookgate.testing.receiver import RecordedRequest, RecordingReceiver, Reply, Respond
from hookgate.testing.tls import tls_server_context

__all__ = [
    "CapturedLogs",
    "FixedClock",
    "RecordedRequest",
    "RecordingReceiver",
    "Reply",
    "Respond",
    "capture_logs",
    "tls_server_context",
]


# -- clock ---------------------------------------------------------------------------------------------


class FixedClock:
    """A clock (``clock() -> float``, seconds since the epoch) that stands still until the test moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (backward when negative); returns the new time."""
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        """Set the time to ``now``."""
        self.now = float(now)

    def __repr__(self) -> str:
        return f"FixedClock({self.now!r})"
