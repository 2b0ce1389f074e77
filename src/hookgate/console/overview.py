"""The dashboard's overview: queue depth, deliveries per minute, success rate, p50/p95 latency and open
circuits over the last hour or day, drawn as server-rendered SVG (no script, no third-party library).

Deliveries, success rate and latency come from the store's attempts (`hookgate.services.stats`): every API
process draws the same charts and a restart loses nothing. Queue depth and open circuits are live values, kept
per minute by this process as it reads them for ``/metrics`` or this page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from hookgate.api.metrics import Metrics, Minute
from hookgate.console.render import page
from hookgate.console.session import DASHBOARD, Viewer
from hookgate.services.stats import Period

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["Chart", "line_chart", "overview_page"]

WIDTH, HEIGHT, PAD = 600, 160, 28


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    svg: Markup
    latest: str


def line_chart(title: str, values: list[float | None], *, unit: str = "", percent: bool = False) -> Markup:
    """A polyline of ``values`` (None: no data that minute), y from 0 to the maximum, with an accessible
    title and the maximum labelled."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    n = max(len(values) - 1, 1)
    points: list[str] = []
    segments: list[list[str]] = []
    for i, v in enumerate(values):
        if v is None:
            if points:
                segments.append(points)
            points = []
            continue
        x = PAD + (WIDTH - 2 * PAD) * i / n
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v / top)
        points.append(f"{x:.1f},{y:.1f}")
    if points:
        segments.append(points)
    label = f"{top * 100:.0f}%" if percent else f"{top:g}{unit}"
    lines = "".join(f'<polyline class="line" points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1)
    dots = "".join(
        f'<circle class="dot" cx="{seg[0].split(",")[0]}" cy="{seg[0].split(",")[1]}" r="2"/>'
        for seg in segments
        if len(seg) == 1
    )
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>"
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>'
        f'<line class="axis" x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}"/>'
        f'<text class="label" x="{PAD + 4}" y="{PAD - 8}">{escape(label)}</text>'
        f'<text class="label" x="{PAD + 4}" y="{HEIGHT - 8}">0</text>'
        f"{lines}{dots}</svg>"
    )
    return Markup(svg)  # noqa: S704 - built from numbers and escaped text only


def _charts(periods: list[Period], gauges: list[Minute], per: int) -> list[Chart]:
    """The charts of ``periods`` and the gauges read in them, each covering ``per`` minutes (counts are
    shown per minute)."""
    rate = [p.delivered / p.attempts if p.attempts else None for p in periods]
    p50 = [p.percentile(0.5) for p in periods]
    p95 = [p.percentile(0.95) for p in periods]
    series: list[tuple[str, list[float | None], str, bool]] = [
        ("Queue depth", [m.queue_depth for m in gauges], "", False),
        ("Deliveries per minute", [round(p.delivered / per, 2) for p in periods], "", False),
        ("Success rate", rate, "", True),
        ("Latency p50", p50, " s", False),
        ("Latency p95", p95, " s", False),
        ("Open circuits", [m.circuits_open for m in gauges], "", False),
    ]
    charts = []
    for title, values, unit, percent in series:
        latest = next((v for v in reversed(values) if v is not None), None)
        shown = "-" if latest is None else (f"{latest * 100:.0f}%" if percent else f"{latest:g}{unit}")
        charts.append(Chart(title, unit, line_chart(title, values, unit=unit, percent=percent), shown))
    return charts


async def overview_page(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    metrics: Metrics = request.app.state.metrics
    states = request.app.state.circuit_states
    depth = await hg.due_count()
    open_circuits = sum(1 for s in states().values() if s != "closed") if states is not None else 0
    now = hg.now()
    metrics.history.gauges(depth, open_circuits, now=now)
    span = request.query_params.get("span", "hour")
    # a day is drawn per 15 minutes: 96 points, not 1440
    minutes, per = (24 * 60, 15) if span == "day" else (60, 1)
    periods = await hg.attempt_history(minutes=minutes, per=per)
    read = {int(m.start // 60): m for m in metrics.history.last(minutes + per, now=now)}
    gauges = [
        _merge([read.get(int(p.start // 60) + i) or Minute(p.start) for i in range(per)]) for p in periods
    ]
    return page(
        request,
        DASHBOARD,
        "overview.html",
        viewer,
        charts=_charts(periods, gauges, per),
        span=span,
        depth=depth,
        open_circuits=open_circuits,
    )


def _merge(group: list[Minute]) -> Minute:
    """The last gauge values read in ``group``."""
    merged = Minute(start=group[0].start)
    for m in group:
        if m.queue_depth is not None:
            merged.queue_depth = m.queue_depth
        if m.circuits_open is not None:
            merged.circuits_open = m.circuits_open
    return merged
