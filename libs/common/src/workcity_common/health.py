"""`/healthz`: the process is alive. `/readyz`: the replica can serve requests (its database
answers), so a load balancer or Kubernetes sends traffic only to a replica that can serve it.

The broker is not part of readiness: with RabbitMQ away the services keep serving (the outbox
holds the events until it is back), and failing readiness would take every replica out of its
Service at once and stop the whole product. Such checks are `degraded_by`: once one has passed,
its failure is reported in the answer (`status: degraded`) without failing it. Until it has
passed once it does count, so a replica starting up is ready only after its queues and bindings
exist (no event published meanwhile finds no queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(
    checks: Mapping[str, ReadinessCheck],
    degraded_by: Mapping[str, ReadinessCheck] | None = None,
    timeout_s: float = 2.0,
) -> APIRouter:
    reported: Mapping[str, ReadinessCheck] = degraded_by or {}
    passed_once: set[str] = set()
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: the replica can serve requests")
    async def readyz() -> JSONResponse:
        async def run(check: ReadinessCheck) -> str:
            try:
                async with asyncio.timeout(timeout_s):
                    await check()
                return "ok"
            except Exception as exc:
                return f"failed: {type(exc).__name__}"

        every = {**checks, **reported}
        results = dict(
            zip(every, await asyncio.gather(*(run(c) for c in every.values())), strict=True)
        )
        passed_once.update(name for name in reported if results[name] == "ok")
        required = [*checks, *(name for name in reported if name not in passed_once)]
        ready = all(results[name] == "ok" for name in required)
        whole = all(result == "ok" for result in results.values())
        status = "ready" if whole else "degraded" if ready else "not ready"
        return JSONResponse({"status": status, "checks": results}, 200 if ready else 503)

    return router
