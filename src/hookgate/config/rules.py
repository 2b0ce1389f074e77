"""The field rules shared by every record: one function per kind of field, each raising a `ConfigError` that
names the field. Models, services and API schemas take their limits from here instead of restating them."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from hookgate.errors import ConfigError

__all__ = [
    "APP_ID_PATTERN",
    "EVENT_TYPE_PATTERN",
    "MAX_CONCURRENCY",
    "MAX_TIMEOUT_S",
    "RESERVED_NAMESPACE",
    "check_concurrency",
    "check_flag",
    "check_rate",
    "check_timeout",
    "event_matches",
    "validate_application_id",
    "validate_event_filter",
    "validate_event_type",
    "validate_text",
]

APP_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
MAX_TIMEOUT_S = 120.0
MAX_CONCURRENCY = 1024
_APP_ID = re.compile(APP_ID_PATTERN)
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
_EVENT_FILTER = re.compile(r"^([A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*)(\.\*)?$|^\*$")


def check_flag(value: object, name: str) -> bool:
    # a truthy string ("no") must not switch a safety setting on
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {value!r}")
    return value


def validate_text(value: object, what: str, *, max_length: int) -> str:
    """A free-text field (a name, a reason, a key): a string of 1 to ``max_length`` characters, no NUL.

    NUL is refused because PostgreSQL text cannot hold it: every store must accept the same values.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= max_length:
        raise ConfigError(f"{what} must be 1-{max_length} characters")
    if "\x00" in value:
        raise ConfigError(f"{what} must not contain a NUL character")
    return value


def validate_application_id(app_id: object) -> str:
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise ConfigError(f"application id {app_id!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    return app_id


def validate_event_type(event_type: str) -> str:
    if (
        not isinstance(event_type, str)
        or not event_type
        or len(event_type) > 256
        or not _EVENT_TYPE.fullmatch(event_type)
    ):
        raise ConfigError(f"event type {event_type!r} must be dot-separated words of [A-Za-z0-9_-]")
    return event_type


def validate_event_filter(filters: Sequence[str]) -> tuple[str, ...]:
    """Exact names, ``prefix.*`` wildcards, or ``*``; an empty list means every event type."""
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
        # a string is a sequence too: "abc" would subscribe to the event types a, b and c
        raise ConfigError(f"event types must be a list of names or patterns, not {type(filters).__name__}")
    for item in filters:
        if not isinstance(item, str) or len(item) > 256 or not _EVENT_FILTER.fullmatch(item):
            raise ConfigError(f"event filter {item!r} must be an event type, 'prefix.*' or '*'")
    return tuple(filters)


# hookgate's own events about an application (`hookgate.outbound.opevents`) use this namespace; an endpoint
# receives them only when it names them (``hookgate.endpoint.disabled``, ``hookgate.*``), never through "all"
RESERVED_NAMESPACE = "hookgate."


def event_matches(filters: tuple[str, ...], event_type: str) -> bool:
    if event_type.startswith(RESERVED_NAMESPACE):
        filters = tuple(item for item in filters if item.startswith(RESERVED_NAMESPACE))
        if not filters:
            return False
    elif not filters:
        return True
    for item in filters:
        if item in ("*", event_type):
            return True
        if item.endswith(".*") and event_type.startswith(item[:-1]):
            return True
    return False


def check_timeout(value: object) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S
    ):
        raise ConfigError(f"timeout_s must be between 0 and {MAX_TIMEOUT_S:.0f} seconds")
    return float(value)


def check_rate(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    ):
        raise ConfigError("rate_limit_per_s must be a positive number")
    return float(value)


def check_concurrency(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError(f"max_concurrency must be an integer between 1 and {MAX_CONCURRENCY}")
    return value
