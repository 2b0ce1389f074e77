"""Outcome classification and Retry-After parsing."""

from __future__ import annotations

import calendar

import pytest

from hookgate.policy.outcome import Action, Decision, classify, parse_retry_after

# Wed, 21 Oct 2015 07:28:00 GMT
NOW = float(calendar.timegm((2015, 10, 21, 7, 28, 0)))


@pytest.mark.parametrize(
    ("status", "headers", "error_class", "expected"),
    [
        (200, None, None, Decision(Action.DELIVERED, None, "http_200")),
        (201, {}, None, Decision(Action.DELIVERED, None, "http_201")),
        (204, None, None, Decision(Action.DELIVERED, None, "http_204")),
        (299, None, None, Decision(Action.DELIVERED, None, "http_299")),
        (410, {"Retry-After": "5"}, None, Decision(Action.DISABLE_ENDPOINT, None, "http_410")),
        (429, {"Retry-After": "120"}, None, Decision(Action.RETRY, 120.0, "http_429")),
        (429, {"retry-after": "7"}, None, Decision(Action.RETRY, 7.0, "http_429")),
        (429, {"RETRY-AFTER": " 0 "}, None, Decision(Action.RETRY, 0.0, "http_429")),
        (
            503,
            {"Retry-After": "Wed, 21 Oct 2015 07:30:00 GMT"},
            None,
            Decision(Action.RETRY, 120.0, "http_503"),
        ),
        (
            503,
            {"Retry-After": "Wed, 21 Oct 2015 07:00:00 GMT"},
            None,
            Decision(Action.RETRY, 0.0, "http_503"),
        ),
        (503, {"Retry-After": "garbage"}, None, Decision(Action.RETRY, None, "http_503")),
        (503, {"Retry-After": "-5"}, None, Decision(Action.RETRY, None, "http_503")),
        (503, {"Retry-After": "1.5"}, None, Decision(Action.RETRY, None, "http_503")),
        (429, {}, None, Decision(Action.RETRY, None, "http_429")),
        (429, None, None, Decision(Action.RETRY, None, "http_429")),
        (500, {"Retry-After": "60"}, None, Decision(Action.RETRY, None, "http_500")),
        (502, None, None, Decision(Action.RETRY, None, "http_502")),
        (400, None, None, Decision(Action.RETRY, None, "http_400")),
        (401, None, None, Decision(Action.RETRY, None, "http_401")),
        (404, None, None, Decision(Action.RETRY, None, "http_404")),
        (100, None, None, Decision(Action.RETRY, None, "http_100")),
        (301, {"Location": "https://elsewhere"}, None, Decision(Action.RETRY, None, "http_301")),
        (308, None, None, Decision(Action.RETRY, None, "http_308")),
        (None, None, "timeout", Decision(Action.RETRY, None, "timeout")),
        (None, None, "connection", Decision(Action.RETRY, None, "connection")),
        (None, None, "tls", Decision(Action.RETRY, None, "tls")),
        (None, None, "ssrf", Decision(Action.RETRY, None, "ssrf")),
        (None, None, "config", Decision(Action.RETRY, None, "config")),
        (None, None, None, Decision(Action.RETRY, None, "no_response")),
    ],
)
def test_classify(
    status: int | None,
    headers: dict[str, str] | None,
    error_class: str | None,
    expected: Decision,
) -> None:
    assert classify(status=status, headers=headers, error_class=error_class, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("30", 30.0),
        ("0030", 30.0),
        ("99999999999999999999999", float(2**31)),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 08:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 0.0),
        ("Tue, 20 Oct 2015 07:28:00 GMT", 0.0),
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),
        ("Wed Oct 21 07:28:10 2015", 10.0),  # asctime form, which RFC 9110 says recipients must accept
        ("soon", None),
        ("-1", None),
        ("+5", None),
        ("1e3", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: isdigit() but not delay-seconds
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ("Wed, 21 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_action_values() -> None:
    assert [a.value for a in Action] == ["delivered", "retry", "disable_endpoint", "give_up"]


def test_decision_is_frozen() -> None:
    decision = Decision(Action.RETRY)
    assert decision.retry_after is None
    assert decision.reason == ""
    with pytest.raises(AttributeError):
        decision.reason = "x"  # type: ignore[misc]
