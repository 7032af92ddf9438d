"""The JSON error answers of every service: a shed request says when to come back."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from workcity_common.errors import ApiError, install_error_handlers


async def test_a_503_carries_retry_after_and_the_json_error() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise ApiError(503, "busy", "The chat service is busy, try again")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get("/busy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"msg": "The chat service is busy, try again", "code": "busy"}
