"""The refusal spike watch (pure): one spike per burst, re-armed once the window falls below the threshold,
sources counted apart; and the reserved ``hookgate.`` namespace of event filters."""

from __future__ import annotations

import pytest

from hookgate.config import Settings
from hookgate.config.rules import event_matches
from hookgate.errors import ConfigError
from hookgate.policy.spike import RefusalWatch


def test_one_spike_per_burst_then_rearmed_after_the_window() -> None:
    watch = RefusalWatch(3, 10.0)
    answers = [watch.refused("a", t) for t in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert [s is not None for s in answers] == [False, False, True, False, False]
    assert answers[2] is not None
    assert (answers[2].source, answers[2].refusals, answers[2].at) == ("a", 3, 2.0)
    # 20 s later the window holds one refusal: re-armed, and a new burst is a new spike
    assert watch.refused("a", 24.0) is None
    assert watch.refused("a", 25.0) is None
    assert watch.refused("a", 26.0) is not None


def test_sources_are_counted_apart_and_spread_out_refusals_never_spike() -> None:
    watch = RefusalWatch(2, 5.0)
    assert watch.refused("a", 0.0) is None
    assert watch.refused("b", 1.0) is None
    assert watch.refused("a", 6.0) is None  # the first left the window
    assert watch.refused("b", 2.0) is not None


@pytest.mark.parametrize(
    ("filters", "event_type", "expected"),
    [
        ((), "hookgate.endpoint.disabled", False),
        (("*",), "hookgate.endpoint.disabled", False),
        (("hookgate.endpoint.disabled",), "hookgate.endpoint.disabled", True),
        (("hookgate.*",), "hookgate.message.attempt.exhausted", True),
        (("order.*", "hookgate.endpoint.*"), "hookgate.endpoint.enabled", True),
        (("hookgate.endpoint.*",), "order.created", False),
        (("hookgate.endpoint.*", "order.*"), "order.created", True),
        ((), "order.created", True),
    ],
)
def test_the_hookgate_namespace_is_received_only_when_named(
    filters: tuple[str, ...], event_type: str, expected: bool
) -> None:
    assert event_matches(filters, event_type) is expected


@pytest.mark.parametrize(
    "changes",
    [
        {"opevents_failing_after": 0},
        {"opevents_refusal_threshold": 0},
        {"opevents_refusal_window_seconds": 0.5},
        {"opevents_refusal_window_seconds": float("nan")},
    ],
)
def test_operational_event_settings_are_checked(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="opevents_"):
        Settings(**changes)  # type: ignore[arg-type]
