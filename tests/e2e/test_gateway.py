"""The nginx gateway, end to end: routing, JSON errors, limits, headers, request ids.

Which service answered is read from the gateway's own JSON access log (the upstream address of
the request's id), so routing is proven even for paths no service defines.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx
import pytest
import websockets
from websockets.typing import Origin

from tests.support.stack import TestStack, service_of

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")

# Path prefix -> the process that must receive it.
ROUTES = [
    ("/api/auth/.well-known/jwks.json", "auth"),
    ("/api/auth", "auth"),
    ("/api/auth/no-such-route", "auth"),
    ("/api/users/support", "auth"),
    ("/api/conversations", "conversations"),
    ("/api/conversations/0123456789abcdef01234567/messages", "conversations"),
    ("/api/messages/0123456789abcdef01234567", "conversations"),
    ("/api/messages", "conversations"),
    ("/api/attachments/0123456789abcdef01234567", "conversations"),
]


def request_id() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def assert_json_error(response: httpx.Response, status: int | tuple[int, ...], code: str) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str) and body["msg"]


@pytest.mark.parametrize(("path", "service"), ROUTES)
async def test_each_prefix_reaches_its_service(
    http: httpx.AsyncClient, stack: TestStack, path: str, service: str
) -> None:
    stack.require_service(service)
    rid = request_id()
    response = await http.get(path, headers={"X-Request-ID": rid})
    assert response.status_code not in (502, 503, 504), response.text
    assert response.headers["x-request-id"] == rid
    entry = stack.gateway_log_entry(rid)
    assert service_of(stack, entry["upstream"]) == service
    assert entry["status"] == response.status_code
    # The service received the gateway's request id: its own access log carries it.
    stack.wait_for_log(service, f'"request_id":"{rid}"')


async def test_a_socket_io_session_stays_on_its_replica(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("realtime")
    params = {"EIO": "4", "transport": "polling"}
    sessions: dict[str, str] = {}
    for _ in range(6):
        rid = request_id()
        response = await http.get("/socket.io/", params=params, headers={"X-Request-ID": rid})
        assert response.status_code == 200, response.text
        # Engine.IO's open packet: "0" then the handshake JSON with the session id.
        assert response.text.startswith("0{")
        sid = json.loads(response.text[1:])["sid"]
        sessions[sid] = service_of(stack, stack.gateway_log_entry(rid)["upstream"])
    # Where new sessions go is least connections, which sockets of other tests sway: the
    # spread is proven with connections held open (test_realtime_spread.py).
    assert set(sessions.values()) <= {"realtime-1", "realtime-2"}, sessions
    # A session's later requests reach the replica that holds it: the Socket.IO connect (no
    # token) is posted, and polling gets its refusal. Elsewhere either is a 400.
    for sid, replica in sessions.items():
        session = {**params, "sid": sid}
        rid = request_id()
        posted = await http.post(
            "/socket.io/", params=session, content="40", headers={"X-Request-ID": rid}
        )
        assert posted.status_code == 200, posted.text
        assert service_of(stack, stack.gateway_log_entry(rid)["upstream"]) == replica
        rid = request_id()
        polled = await http.get("/socket.io/", params=session, headers={"X-Request-ID": rid})
        assert polled.status_code == 200, polled.text
        assert polled.text.startswith("44{") and "Authentication error" in polled.text
        assert service_of(stack, stack.gateway_log_entry(rid)["upstream"]) == replica


async def test_socket_io_websocket_upgrade_through_the_gateway(stack: TestStack) -> None:
    stack.require_service("realtime")
    url = stack.gateway_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, open_timeout=10) as ws:
        opening = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(opening, str) and opening.startswith("0{")
        assert json.loads(opening[1:])["sid"]


async def test_websocket_frames_are_not_compressed_by_default(stack: TestStack) -> None:
    """A client offering permessage-deflate (as browsers do) gets plain frames: compressing each
    small chat frame costs the replica more CPU than it saves (UVICORN_WS_PER_MESSAGE_DEFLATE)."""
    stack.require_service("realtime")
    url = stack.gateway_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    origin = Origin(stack.gateway_url)  # a page of the gateway's own origin, as a browser sends
    # Two sockets open at once: the gateway spreads them by least connections, one per replica.
    async with (
        websockets.connect(url, open_timeout=10, compression="deflate", origin=origin) as first,
        websockets.connect(url, open_timeout=10, compression="deflate", origin=origin) as second,
    ):
        for ws in (first, second):
            assert ws.request is not None and ws.response is not None
            assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            opening = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(opening, str) and opening.startswith("0{")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api"),
        ("GET", "/api/unknown"),
        ("POST", "/api/authx/login"),
        ("DELETE", "/docs"),
        ("GET", "/api/authentication"),
        ("GET", "/socket.iox/"),
    ],
)
async def test_unknown_paths_are_json_404(http: httpx.AsyncClient, method: str, path: str) -> None:
    response = await http.request(method, path)
    assert_json_error(response, 404, "not_found")
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value


async def test_a_stopped_service_answers_json_503_and_recovers(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    with stack.service_stopped("auth"):
        response = await http.get("/api/auth/.well-known/jwks.json")
        assert_json_error(response, (502, 503), "service_unavailable")
        assert GENERATED_ID.match(response.headers["x-request-id"])
        response = await http.post("/api/auth/login", json={"email": "a@b.example"})
        assert_json_error(response, (502, 503), "service_unavailable")
    response = await http.get("/api/auth/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json()["keys"]


async def test_one_realtime_replica_down_the_other_serves(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("realtime")
    params = {"EIO": "4", "transport": "polling"}

    async def handshake_until_served(timeout_s: float = 20.0) -> httpx.Response:
        # A replica nginx saw fail is skipped for fail_timeout (5 s); then it is tried again.
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            response = await http.get("/socket.io/", params=params)
            if response.status_code == 200 or asyncio.get_running_loop().time() > deadline:
                return response
            await asyncio.sleep(0.5)

    for replica in ("realtime-1", "realtime-2"):
        with stack.service_stopped(replica):
            response = await handshake_until_served()
            assert response.status_code == 200, response.text
            assert response.text.startswith("0{")
            rid = request_id()
            await http.get("/socket.io/", params=params, headers={"X-Request-ID": rid})
            upstream = stack.gateway_log_entry(rid)["upstream"]
            assert service_of(stack, upstream) != replica
    with stack.service_stopped("realtime-1", "realtime-2"):
        response = await http.get("/socket.io/", params=params)
        assert_json_error(response, (502, 503), "service_unavailable")
    assert (await handshake_until_served()).status_code == 200


async def test_a_body_over_the_limit_is_json_413(stack: TestStack) -> None:
    # 27 MB: over even the upload limit (26 MB). nginx answers from the headers, discards the rest
    # (the answer is read by its length: nginx keeps the socket open a while, lingering close, to
    # swallow the body never sent).
    head = (
        "POST /api/auth/signup HTTP/1.1\r\n"
        "Host: gateway\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {27 * 1024 * 1024}\r\n"
        "Connection: close\r\n\r\n"
    )
    status_line, headers, body = await raw_answer(stack, head.encode() + b"{" + b" " * 65_536)
    assert status_line.split()[1] == "413"
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"msg": "Request body too large", "code": "payload_too_large"}


async def raw_answer(stack: TestStack, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """The gateway's answer to `request` sent as bytes: status line, headers, body."""
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        status_line, *header_lines = raw_head.decode().strip().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 15)
    finally:
        writer.close()
        await writer.wait_closed()
    return status_line, headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        # A request line over nginx's header buffer (8 KiB): found by the fuzz, which got nginx's
        # HTML 500 (its error page could not be a named location without a URI read).
        (
            b"GET /api/conversations?after=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            "414",
            "uri_too_long",
        ),
        (b"NOT A REQUEST LINE\r\n\r\n", "400", "bad_request"),
        (b"\x16\x03\x01\x02\x00 HTTP/1.1\r\n\r\n", "400", "bad_request"),
        (
            b"GET /api/auth/me HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
            "400",
            "header_too_large",
        ),
    ],
    ids=[
        "request-line-too-long",
        "malformed-request-line",
        "tls-on-plain-port",
        "header-too-large",
    ],
)
async def test_requests_nginx_cannot_read_get_a_json_error(
    stack: TestStack, request_bytes: bytes, status: str, code: str
) -> None:
    status_line, headers, body = await raw_answer(stack, request_bytes)
    assert status_line.split()[1] == status, (status_line, body)
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == code


async def test_a_large_body_under_the_limit_reaches_the_service(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    # Bodies over nginx's 16 KB buffer go through its temp directory: it must be writable. 40 KB
    # is under the gateway's 64k and over auth's own 16 KiB: auth answers the 413.
    rid = request_id()
    payload = {"email": "big@workcity.example", "password": "x" * 40_000}
    response = await http.post("/api/auth/signup", json=payload, headers={"X-Request-ID": rid})
    assert_json_error(response, 413, "payload_too_large")
    assert service_of(stack, stack.gateway_log_entry(rid)["upstream"]) == "auth"


async def test_only_the_upload_route_takes_a_large_body(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    # 1 MB of JSON aimed at an unauthenticated route: refused by the gateway, never parsed.
    rid = request_id()
    huge = b'{"refreshToken": [' + b"0," * 500_000 + b"0]}"
    response = await http.post(
        "/api/auth/refresh",
        content=huge,
        headers={"content-type": "application/json", "X-Request-ID": rid},
    )
    assert_json_error(response, 413, "payload_too_large")
    assert stack.gateway_log_entry(rid)["upstream"] == ""
    # The same size to the attachment upload passes the gateway (the service then decides).
    rid = request_id()
    response = await http.post(
        "/api/conversations/0123456789abcdef01234567/attachments",
        files={"file": ("a.bin", b"\0" * 1_000_000, "application/octet-stream")},
        headers={"X-Request-ID": rid},
    )
    assert response.status_code == 401, response.text
    assert service_of(stack, stack.gateway_log_entry(rid)["upstream"]) == "conversations"


async def test_login_and_signup_floods_get_json_429(stack: TestStack) -> None:
    # The test stack raises the limits for its one client address; a second nginx from the same
    # template, in front of the same services, keeps a tiny one: 1 per minute, burst 3.
    with stack.extra_gateway(GATEWAY_AUTH_RATE="1r/m", GATEWAY_AUTH_BURST="3") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            credentials = {"email": "nobody@workcity.example", "password": "wrong-password"}
            statuses = []
            for _ in range(6):
                response = await client.post("/api/auth/login", json=credentials)
                statuses.append(response.status_code)
            # One request plus a burst of three go through to auth (wrong credentials: 400).
            assert statuses == [400, 400, 400, 400, 429, 429]
            assert response.json() == {"msg": "Too many requests", "code": "rate_limited"}
            for header, value in SECURITY_HEADERS.items():
                assert response.headers[header] == value

            # Signup shares the limit: this address is still over it.
            response = await client.post("/api/auth/signup", json=credentials)
            assert_json_error(response, 429, "rate_limited")
            # Only POSTs count, and only on login and signup.
            response = await client.get("/api/auth/login")
            assert response.status_code == 405
            response = await client.get("/api/auth/.well-known/jwks.json")
            assert response.status_code == 200


async def test_security_headers_on_every_kind_of_answer(http: httpx.AsyncClient) -> None:
    answers = [
        await http.get("/api/auth/.well-known/jwks.json"),  # a service's 200
        await http.get("/api/auth/me"),  # a service's 401
        await http.get("/nowhere"),  # nginx's own 404
    ]
    for response in answers:
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value
            # Once, not once from nginx and once from the service.
            assert len(response.headers.get_list(header)) == 1
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["server"] == "nginx"  # no version number
        assert len(response.headers.get_list("x-request-id")) == 1


async def test_request_id_passed_through_generated_or_replaced(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    path = "/api/auth/.well-known/jwks.json"
    sane = request_id()
    response = await http.get(path, headers={"X-Request-ID": sane})
    assert response.headers["x-request-id"] == sane
    stack.wait_for_log("auth", f'"request_id":"{sane}"')

    generated = []
    for sent in (None, "has spaces in it", "x" * 200, '"quoted";evil'):
        headers = {"X-Request-ID": sent} if sent is not None else {}
        response = await http.get(path, headers=headers)
        assert response.status_code == 200
        rid = response.headers["x-request-id"]
        assert GENERATED_ID.match(rid), rid
        generated.append(rid)
        # The service logs the id nginx made, so a request is one id across every log.
        stack.wait_for_log("auth", f'"request_id":"{rid}"')
    assert len(set(generated)) == len(generated)


async def test_access_log_is_json_with_the_request(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    rid = request_id()
    await http.get("/api/auth/me", headers={"X-Request-ID": rid, "User-Agent": 'agent "quoted"'})
    entry = stack.gateway_log_entry(rid)
    assert entry["service"] == "gateway"
    assert entry["method"] == "GET"
    assert entry["uri"] == "/api/auth/me"
    assert entry["status"] == 401
    assert entry["user_agent"] == 'agent "quoted"'
    assert isinstance(entry["duration_s"], float | int)
