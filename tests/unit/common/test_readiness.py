"""/readyz: the database decides; the broker, once reached, only degrades the answer."""

import httpx
from fastapi import FastAPI
from workcity_common.health import health_router


class Switch:
    def __init__(self, up: bool) -> None:
        self.up = up

    async def __call__(self) -> None:
        if not self.up:
            raise ConnectionError("down")


async def readyz(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get("/readyz")


async def test_a_broker_outage_after_start_up_degrades_but_stays_ready() -> None:
    database, broker = Switch(True), Switch(False)
    app = FastAPI()
    app.include_router(health_router({"mongodb": database}, {"rabbitmq": broker}))
    # Never reached yet: a replica starting up is not ready (its queues do not exist yet).
    starting = await readyz(app)
    assert starting.status_code == 503
    assert starting.json()["status"] == "not ready"
    broker.up = True
    assert (await readyz(app)).json() == {
        "status": "ready",
        "checks": {"mongodb": "ok", "rabbitmq": "ok"},
    }
    broker.up = False
    outage = await readyz(app)
    assert outage.status_code == 200
    assert outage.json() == {
        "status": "degraded",
        "checks": {"mongodb": "ok", "rabbitmq": "failed: ConnectionError"},
    }
    database.up = False
    assert (await readyz(app)).status_code == 503
