"""Property-based API testing with schemathesis against the served OpenAPI document (admin token).

Bounded: a few examples per operation, no shrinking deadline; the whole module runs in well under a minute.
Checks: no 5xx, and every response conforms to the schema the document declares for it.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from hookgate.api.app import create_app
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.store.memory import MemoryStore


async def _setup() -> tuple[Hookgate, str]:
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    assert token is not None
    # something to find: an application with an endpoint and a message
    await hg.create_application("seed", app_id="seed")
    await hg.create_endpoint("seed", "https://example.com/hook")
    await hg.publish("seed", "order.created", {"n": 1})
    return hg, token


HG, TOKEN = asyncio.run(_setup())
APP = create_app(HG)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms(case: schemathesis.Case) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers["Authorization"] = f"Bearer {TOKEN}"
    case.headers = headers
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
