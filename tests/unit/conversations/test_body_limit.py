from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Request
from workcity_common.app import create_service_app
from workcity_common.body_limit import BodySizeLimit


def make_app(max_bytes: int) -> Any:
    app = create_service_app(service="t", title="t", description="t", readiness={})
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def post(app: Any, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/echo", content=content)


async def test_bodies_up_to_the_limit_pass() -> None:
    response = await post(make_app(1024), b"x" * 1024)
    assert response.status_code == 200
    assert response.json() == {"size": 1024}


async def test_a_declared_oversized_body_is_refused_with_413_json() -> None:
    response = await post(make_app(1024), b"x" * 1025)
    assert response.status_code == 413
    assert response.json() == {
        "msg": "Request body is larger than 1024 bytes",
        "code": "payload_too_large",
    }


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    response = await post(make_app(1024), chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_a_refused_body_is_read_to_the_end_before_the_413() -> None:
    # A proxy still sending the body would see the connection reset (and answer 502) if the
    # 413 went out and the connection closed before the body was read.
    chunks = [b"x" * 1000] * 5
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not run for a refused body")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-length", b"5000")],
    }
    await BodySizeLimit(app, max_bytes=1024)(scope, receive, send)
    assert messages == []  # everything was received
    assert sent[0]["status"] == 413
