"""The FastAPI application every service starts from: JSON errors, request ids, access log,
metrics, health and readiness. Each service adds its routes and its lifespan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from workcity_common.errors import install_error_handlers
from workcity_common.health import ReadinessCheck, health_router
from workcity_common.observability import Metrics, RequestContextMiddleware


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    readiness: Mapping[str, ReadinessCheck],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    metrics = Metrics(service)
    install_error_handlers(app)
    app.include_router(health_router(readiness))
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
