"""A source's settings are refused when built, with the source and the field named (types, ranges, rules)."""

from __future__ import annotations

from typing import Any

import pytest

from hookgate.errors import ConfigError
from hookgate.inbound.source import Source

BASE: dict[str, Any] = {"scheme": "github", "secrets": ["s3cret"]}
JWS: dict[str, Any] = {"scheme": "jws", "jwks_url": "https://partner.example/jwks.json"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # the header rule, not a copy of it
        (
            {**BASE, "event_id": "header:X Delivery"},
            r"event_id: 'X Delivery' is not a valid HTTP header name",
        ),
        ({**BASE, "event_id": "header:" + "X" * 257}, r"event_id: header name .* at most 256"),
        ({**BASE, "event_id": "header:X-Id\n"}, r"event_id: .* is not a valid HTTP header name"),
        ({**BASE, "event_id": "json:id\n"}, r"event_id must be 'header:<Name>' or 'json:<field>'"),
        ({**BASE, "event_id": 5}, r"event_id must be 'header:<Name>' or 'json:<field>'"),
        # the URL rule
        ({**JWS, "jwks_url": "https://127.1/jwks"}, r"jwks_url host '127\.1' is not an IPv4 address"),
        ({**JWS, "jwks_url": "https://partner.example/jwks\r\n"}, r"jwks_url contains '\\r'"),
        ({**JWS, "jwks_url": "http://partner.example/jwks"}, r"jwks_url must use https \(jwks_insecure"),
        ({**JWS, "jwks_url": 5}, r"jwks_url must be a string"),
        # switches are booleans, not truthy strings
        (
            {**JWS, "jwks_url": "http://partner.example/jwks", "jwks_insecure": "no"},
            r"jwks_insecure must be true",
        ),
        ({**BASE, "jwks_insecure": "yes"}, r"jwks_insecure must be true or false"),
        ({**BASE, "require_https": "false"}, r"require_https must be true or false"),
        # numbers: type, finiteness, range
        ({**BASE, "tolerance_s": 300.0}, r"tolerance_s must be a whole number of seconds from 1 to 86400"),
        ({**BASE, "tolerance_s": "300"}, r"tolerance_s must be a whole number"),
        ({**BASE, "tolerance_s": 86401}, r"tolerance_s must be a whole number of seconds from 1 to 86400"),
        ({**BASE, "tolerance_s": 0}, r"tolerance_s must be"),
        ({**BASE, "idempotency_ttl_s": float("inf")}, r"idempotency_ttl_s must be a positive number"),
        ({**BASE, "idempotency_ttl_s": "60"}, r"idempotency_ttl_s must be a positive number"),
        ({**BASE, "rate_limit_per_s": float("nan")}, r"rate_limit_per_s must be a positive number"),
        ({**BASE, "rate_limit_burst": float("inf")}, r"rate_limit_burst must be a number >= 1"),
        ({**BASE, "max_body_bytes": 1024.0}, r"max_body_bytes must be an integer"),
        # scheme options are the registry's: known names, string values
        ({**BASE, "scheme_options": {"prefix": "x"}}, r"scheme github has no option 'prefix'; it takes none"),
        (
            {"scheme": "hmac", "secrets": ["s3cret"], "scheme_options": {"algorithm": ["sha256"]}},
            r"scheme option algorithm must be a string, not list",
        ),
    ],
)
def test_bad_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"source 'acme': " + message):
        Source.from_mapping("acme", fields)


@pytest.mark.parametrize("name", ["acme\n", "acme\x00", "", "a" * 65, "a b", 5])
def test_bad_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigError, match=r"source name .* must be 1-64 characters of \[A-Za-z0-9_.-\]"):
        Source(name, "github", secrets=("s3cret",))


def test_good_settings_are_kept() -> None:
    source = Source.from_mapping(
        "acme", {**BASE, "event_id": "header:X-GitHub-Delivery", "tolerance_s": 86400, "require_https": False}
    )
    assert (source.event_id, source.tolerance_s, source.require_https) == (
        "header:X-GitHub-Delivery",
        86400,
        False,
    )
