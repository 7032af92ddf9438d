"""The FastAPI application every service starts from: JSON errors, request ids, access log,
metrics, health and readiness. Each service adds its routes and its lifespan."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from prometheus_client.registry import Collector

from workcity_common.errors import install_error_handlers
from workcity_common.health import ReadinessCheck, health_router
from workcity_common.observability import Metrics, RequestContextMiddleware


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    readiness: Mapping[str, ReadinessCheck],
    degraded_by: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
    metrics_collectors: Iterable[Collector] = (),
) -> FastAPI:
    """`readiness` checks fail /readyz; `degraded_by` checks are only reported there (the
    broker: health.py). `metrics_collectors` add to /metrics (e.g. `command_counters(client)`)."""
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    metrics = Metrics(service)
    for collector in metrics_collectors:
        metrics.registry.register(collector)
    install_error_handlers(app)
    app.include_router(health_router(readiness, degraded_by))
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
