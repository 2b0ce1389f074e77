"""Outcome classification: map the result of one delivery attempt to what the engine does next."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["Action", "Decision", "classify", "parse_retry_after"]

# A Retry-After beyond this is nonsense; clamping keeps int()/float() conversions bounded. Callers cap
# further (next_attempt_at's max_retry_after).
_MAX_RETRY_AFTER_SECONDS = 2**31
_MAX_DELAY_DIGITS = 12


class Action(enum.Enum):
    """What the delivery engine does after an attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DISABLE_ENDPOINT = "disable_endpoint"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, the server's requested delay (seconds from now) if any, and a short audit reason."""

    action: Action
    retry_after: float | None = None
    reason: str = ""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Parse a Retry-After value (RFC 9110 §10.2.3) into seconds from ``now``; None if absent or malformed.

    Accepts delay-seconds (a non-negative decimal integer) or an HTTP-date; a date in the past yields 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    # isascii() first: str.isdigit() also accepts non-ASCII digits such as "٣", which are not delay-seconds.
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_DELAY_DIGITS:
            return float(_MAX_RETRY_AFTER_SECONDS)
        return float(min(int(text), _MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # "-0000" parses as naive; HTTP-dates are always GMT.
        when = when.replace(tzinfo=UTC)
    try:
        seconds = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return min(max(seconds, 0.0), float(_MAX_RETRY_AFTER_SECONDS))


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    # Plain dicts are case-sensitive; header names are not (RFC 9110 §5.1).
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def classify(
    *,
    status: int | None,
    headers: Mapping[str, str] | None,
    error_class: str | None,
    now: float,
) -> Decision:
    """Decide what to do after an attempt that got ``status`` (None when no response arrived at all).

    Only 2xx counts as delivered; redirects are never followed, so a 3xx is a failure like any other.
    410 Gone means the receiver asked us to stop. 429/503 carry the server's Retry-After. Giving up after
    too many attempts is the schedule's decision (next_attempt_at returning None), not this function's.
    """
    if status is None:
        # Timeouts, connection errors, TLS failures and SSRF refusals all retry: DNS and servers change.
        return Decision(Action.RETRY, reason=error_class or "no_response")
    reason = f"http_{status}"
    if 200 <= status <= 299:
        return Decision(Action.DELIVERED, reason=reason)
    if status == 410:
        return Decision(Action.DISABLE_ENDPOINT, reason=reason)
    if status in (429, 503):
        return Decision(
            Action.RETRY, retry_after=parse_retry_after(_header(headers, "Retry-After"), now), reason=reason
        )
    return Decision(Action.RETRY, reason=reason)
