"""`/healthz`: the process is alive. `/readyz`: everything it depends on answers (database,
broker), so a load balancer or Kubernetes sends traffic only to a replica that can serve it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(checks: Mapping[str, ReadinessCheck], timeout_s: float = 2.0) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database and broker answer")
    async def readyz() -> JSONResponse:
        async def run(check: ReadinessCheck) -> str:
            try:
                async with asyncio.timeout(timeout_s):
                    await check()
                return "ok"
            except Exception as exc:
                return f"failed: {type(exc).__name__}"

        results = dict(
            zip(checks, await asyncio.gather(*(run(c) for c in checks.values())), strict=True)
        )
        ready = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results}, 200 if ready else 503
        )

    return router
