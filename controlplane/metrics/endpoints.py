"""GET /metrics: Prometheus text exposition, read from the database at scrape time."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from controlplane.metrics.collector import CONTENT_TYPE, render
from controlplane.metrics.repository import MetricsRepository
from controlplane.security.auth import Principal, require

router = APIRouter(tags=["metrics"])

MetricsDep = Annotated[Principal, Depends(require("metrics:read"))]


@router.get(
    "/metrics",
    include_in_schema=True,
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, _: MetricsDep) -> Response:
    """Fleet metrics in the Prometheus text format; needs the metrics:read scope."""
    started = time.perf_counter()
    async with request.app.state.sessionmaker() as session:
        snapshot = await MetricsRepository(session).snapshot()
    # Building the text is CPU work proportional to the fleet: keep it off the loop.
    gate = request.app.state.gate_counts.snapshot()
    body = await asyncio.to_thread(render, snapshot, started=started, gate=gate)
    return Response(content=body, media_type=CONTENT_TYPE)
