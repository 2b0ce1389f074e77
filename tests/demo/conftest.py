"""The demo's scenarios built once a module, against placeholder receiver URLs and a JWKS of one key."""

from __future__ import annotations

from typing import Any

import pytest

from hookgate.demo.pki import make_pki
from hookgate.demo.receivers import TokenIssuer
from hookgate.demo.scenarios import Row, Setup, build_rows
from hookgate.keys import generate_key
from hookgate.schemes.registry import jwks_document


@pytest.fixture(scope="module")
def jws_key() -> str:
    return generate_key("ec")


@pytest.fixture(scope="module")
def rows(jws_key: str) -> dict[str, tuple[Row, dict[str, Any]]]:
    setup = Setup(
        "http://127.0.0.1:1",
        "https://127.0.0.1:2",
        "http://127.0.0.1:3/token",
        make_pki(),
        jwks_document([jws_key.encode()]),
    )
    built = build_rows(setup, TokenIssuer("client", "secret"))
    return {row.key: (row, options) for row, options in built}
