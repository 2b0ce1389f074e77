"""A source's configuration: route paths in normal form."""

from __future__ import annotations

import pytest

from hookgate.errors import ConfigError
from hookgate.inbound.source import Source
from tests.inbound._peers import STRIPE_SECRET

# -- item 17: route paths in normal form ------------------------------------------------------------------

BAD_PATHS = [
    "/inbound/../api/v1/tokens",
    "/inbound/./github",
    "/inbound/github/..",
    "/inbound/%2e%2e/api/v1/tokens",
    "/inbound/%2E%2E/api",
    "/inbound/a%2fb",
    "/inbound//github",
    "//inbound/github",
    "/inbound/github//",
    "/inbound\\..\\api",
    "/inbound/git hub",
    "/inbound/github?x=1",
    "/inbound/github#x",
    "/in/\u00e9",
    "inbound/github",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_that_are_not_normalised_are_refused(path: str) -> None:
    with pytest.raises(ConfigError, match="source 'stripe': path"):
        Source("stripe", "stripe", secrets=(STRIPE_SECRET,), path=path)
    with pytest.raises(ConfigError, match="path"):
        Source.from_mapping("stripe", {"scheme": "stripe", "secrets": [STRIPE_SECRET], "path": path})


@pytest.mark.parametrize(
    "path", ["/", "/in/stripe", "/in/stripe/", "/hooks/v1.2/stripe", "/a/.well-known/x", "/a/..b"]
)
def test_normal_paths_are_kept(path: str) -> None:
    assert Source("stripe", "stripe", secrets=(STRIPE_SECRET,), path=path).path == path
