"""Operations routes, without a token: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import Response

from hookgate.api.deps import HG, Circuits, MetricsDep, resource_router
from hookgate.api.errors import ErrorResponse
from hookgate.api.metrics import CONTENT_TYPE

__all__ = ["router"]

router = resource_router("", "ops")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(hg: HG) -> dict[str, str]:
    await hg.due_count()  # a store error becomes the 503 answer
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics_route(hg: HG, metrics: MetricsDep, circuit_states: Circuits) -> Response:
    depth = await hg.due_count()
    circuits = sum(1 for s in circuit_states().values() if s != "closed") if circuit_states is not None else 0
    metrics.queue_depth.set(depth)
    metrics.circuits_open.set(circuits)
    metrics.history.gauges(depth, circuits, now=hg.now())  # the console's charts show what /metrics showed
    return Response(metrics.render(), media_type=CONTENT_TYPE)
