"""OpenTelemetry spans, when enabled: API requests, publishes and delivery attempts; no secret in them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hookgate import tracing
from hookgate.api.app import create_app
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.config import load_settings
from hookgate.crypto import SecretBox
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.memory import MemoryStore

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def traced() -> None:
    # the global tracer provider can be set once per process: the whole module shares one exporter
    if not tracing.enabled():
        assert tracing.configure_tracing(service_name="hookgate-test", exporter=EXPORTER)


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
    await runner.cleanup()


async def test_api_publish_and_delivery_are_traced(receiver: str) -> None:
    EXPORTER.clear()
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    app = create_app(hg)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        shop = (await client.post("/api/v1/applications", json={"name": "shop"}, headers=headers)).json()
        created = await client.post(
            f"/api/v1/applications/{shop['id']}/endpoints",
            json={"url": receiver, "allow_insecure": True},
            headers=headers,
        )
        secret = created.json()["secret"]
        published = await client.post(
            f"/api/v1/applications/{shop['id']}/messages",
            json={"event_type": "order.paid", "payload": {"n": 1}},
            headers=headers,
        )
    worker = hg.worker(address_policy=AddressPolicy(["127.0.0.0/8"]))
    await worker.run_until_idle(timeout=10)
    await worker.close()
    spans = {s.name: s for s in EXPORTER.get_finished_spans()}
    assert "hookgate.publish" in spans
    attempt = spans["hookgate.delivery.attempt"]
    assert attempt.attributes is not None
    assert attempt.attributes["hookgate.message_id"] == published.json()["message"]["id"]
    assert attempt.attributes["http.response.status_code"] == 200
    # FastAPI names request spans by route template (it instruments itself once a tracer provider is set)
    request_spans = {s.name for s in EXPORTER.get_finished_spans() if s.name.startswith("POST /api/v1/")}
    assert request_spans == {
        "POST /api/v1/applications",
        "POST /api/v1/applications/{app_id}/endpoints",
        "POST /api/v1/applications/{app_id}/messages",
    }
    # nothing secret in any span
    text = repr([(s.name, dict(s.attributes or {})) for s in EXPORTER.get_finished_spans()])
    assert secret not in text
    assert token is not None
    assert token not in text


def test_the_setting_reads_from_the_environment() -> None:
    assert load_settings(environ={"HOOKGATE_OTEL_ENABLED": "true"}).otel_enabled is True
    assert load_settings(environ={"HOOKGATE_OTEL_ENABLED": "0"}).otel_enabled is False
    assert load_settings(environ={}).otel_enabled is False
