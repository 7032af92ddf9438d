"""The JSON error answers of every service: a domain error's kind decides its status through the
one table; a shed request says when to come back; the socket ack carries the same msg and code."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from workcity_common.domain_errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)
from workcity_common.error_table import from_http, http_status, socket_ack
from workcity_common.errors import install_error_handlers


async def answer(error: DomainError) -> httpx.Response:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        return await client.get("/fail")


async def test_a_503_carries_retry_after_and_the_json_error() -> None:
    response = await answer(Busy())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"msg": "The chat service is busy, try again", "code": "busy"}


async def test_extra_fields_ride_along_and_a_throttle_says_when() -> None:
    response = await answer(Throttled("Too many failed logins", "login_throttled", retryAfter=7))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "msg": "Too many failed logins",
        "code": "login_throttled",
        "retryAfter": 7,
    }


async def test_a_401_asks_for_a_bearer_token() -> None:
    response = await answer(Unauthenticated("Token is not valid"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"msg": "Token is not valid", "code": "unauthorized"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("bad", "invalid_text"), 400),
        (Unauthenticated(), 401),
        (Forbidden("no", "not_participant"), 403),
        (NotFound(), 404),
        (Conflict("taken", "already_assigned"), 409),
        (TooLarge(), 413),
        (UnsupportedType(), 415),
        (Throttled(), 429),
        (Unavailable(), 503),
        (Busy(), 503),
    ],
)
def test_one_table_for_http_and_socket_and_back(error: DomainError, status: int) -> None:
    assert http_status(error) == status
    assert socket_ack(error) == {"error": error.msg, "code": error.code}
    back = from_http(status, error.code, error.msg)
    assert type(back) is type(error)
    if status < 500:  # a 5xx's words stay with the service that failed
        assert (back.code, back.msg) == (error.code, error.msg)


def test_a_service_subclass_maps_as_its_kind() -> None:
    class AtCapacity(Conflict):
        default_code = "at_capacity"

    assert http_status(AtCapacity()) == 409
    assert AtCapacity().code == "at_capacity"
    assert type(from_http(418, None, None)) is Invalid  # an unknown 4xx is still a refusal
