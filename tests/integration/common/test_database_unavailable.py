"""A request that needs the database while it does not answer gets a 503 to retry, in the JSON
error shape, never a 500 with a traceback (found by the database-stop drill: a send's
clientMessageId lookup during the outage)."""

from __future__ import annotations

import logging

import httpx
import pytest
from pymongo import AsyncMongoClient
from workcity_common.app import create_service_app
from workcity_common.database import install_database_error_handler

from tests.support.servers import free_port

pytestmark = pytest.mark.integration


async def test_a_database_that_does_not_answer_is_a_503_to_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on the port: the driver's server selection gives up after 300 ms.
    client: AsyncMongoClient = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/?retryWrites=false", serverSelectionTimeoutMS=300
    )
    app = create_service_app(service="probe", title="probe", description="", readiness={})
    install_database_error_handler(app)

    @app.get("/api/thing")
    async def thing() -> dict[str, object]:
        found = await client["db"]["things"].find_one({"_id": 1})
        return {"found": found is not None}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            with caplog.at_level(logging.WARNING):
                response = await http.get("/api/thing")
    finally:
        await client.close()
    assert response.status_code == 503
    assert response.json() == {
        "code": "unavailable",
        "msg": "The database is unavailable, try again",
    }
    assert response.headers["retry-after"] == "1"
    assert not any(record.exc_info for record in caplog.records)  # no traceback logged
    assert any(record.getMessage() == "database unavailable" for record in caplog.records)
