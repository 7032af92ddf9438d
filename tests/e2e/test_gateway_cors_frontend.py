"""What a browser meets at the gateway: CORS for a frontend on another origin (one allow-list for
REST and Socket.IO, answered by the gateway alone) and a built frontend served at / itself."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.stack import TestStack

SHOP = "http://localhost:5173"
PREFLIGHT = {
    "Origin": SHOP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}
POLLING = "/socket.io/?EIO=4&transport=polling"


def assert_allowed(response: httpx.Response, origin: str) -> None:
    # Exactly once: the services' own CORS headers (python-socketio's) are hidden.
    assert response.headers.get_list("access-control-allow-origin") == [origin], response.headers
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers.get_list("vary")


def assert_not_allowed(response: httpx.Response) -> None:
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_is_answered_by_the_gateway(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    rid = f"e2e-{uuid.uuid4().hex}"
    response = await http.options("/api/auth/signup", headers={**PREFLIGHT, "X-Request-ID": rid})
    assert response.status_code == 204
    assert_allowed(response, SHOP)
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in headers and "content-type" in headers
    assert int(response.headers["access-control-max-age"]) > 0
    if stack.dev is not None:  # it never reached auth (which would answer 405)
        assert stack.gateway_log_entry(rid)["upstream"] == ""


async def test_every_answer_to_an_allowed_origin_carries_cors(http: httpx.AsyncClient) -> None:
    origin = {"Origin": SHOP}
    email = f"e2e-cors-{uuid.uuid4().hex[:12]}@workcity.example"
    signup = await http.post(
        "/api/auth/signup", json={"email": email, "password": "secret-123"}, headers=origin
    )
    assert signup.status_code == 201, signup.text
    answers = [
        signup,
        # The same email again: a service's 400.
        await http.post(
            "/api/auth/signup", json={"email": email, "password": "secret-123"}, headers=origin
        ),
        await http.get("/api/conversations", headers=origin),  # 401
        await http.get("/api/nowhere", headers=origin),  # nginx's own 404
        await http.get(POLLING, headers=origin),  # Socket.IO's handshake (python-socketio)
    ]
    assert [a.status_code for a in answers] == [201, 400, 401, 404, 200]
    for response in answers:
        assert_allowed(response, SHOP)
    assert "x-request-id" in answers[2].headers["access-control-expose-headers"].lower()
    # Without an Origin (not a browser) there is nothing to allow.
    assert_not_allowed(await http.get("/api/conversations"))


async def test_production_allows_frontend_url_only(stack: TestStack) -> None:
    """The original's environment carried over: FRONTEND_URL is the allowed origin."""
    environ = {"ENVIRONMENT": "production", "FRONTEND_URL": f"{SHOP}/"}
    with stack.extra_gateway(environ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            allowed = await client.options("/api/auth/login", headers=PREFLIGHT)
            assert allowed.status_code == 204
            assert_allowed(allowed, SHOP)
            assert_allowed(await client.get(POLLING, headers={"Origin": SHOP}), SHOP)
            for other in ("http://evil.example", "http://localhost:5174", "null"):
                refused = await client.options(
                    "/api/auth/login", headers={**PREFLIGHT, "Origin": other}
                )
                assert refused.status_code == 204
                assert_not_allowed(refused)
                assert_not_allowed(
                    await client.get("/api/conversations", headers={"Origin": other})
                )


async def test_cors_origins_replaces_frontend_url(stack: TestStack) -> None:
    environ = {
        "ENVIRONMENT": "production",
        "FRONTEND_URL": SHOP,
        "CORS_ORIGINS": "https://shop.example,https://admin.shop.example",
    }
    with stack.extra_gateway(environ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            for origin in ("https://shop.example", "https://admin.shop.example"):
                assert_allowed(
                    await client.get("/api/conversations", headers={"Origin": origin}), origin
                )
            assert_not_allowed(await client.get("/api/conversations", headers={"Origin": SHOP}))


INDEX = "<!doctype html><html><head><script type=module src=/assets/app-3f9a1c.js></script></head><body>shop</body></html>"


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "app-3f9a1c.js").write_text("console.log('hi')\n")
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return tmp_path


async def test_the_gateway_serves_a_built_frontend(stack: TestStack, frontend: Path) -> None:
    with stack.extra_gateway({"FRONTEND_DIR": str(frontend)}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            for path in ("/", "/chat/0123456789abcdef01234567", "/login"):
                page = await client.get(path)
                assert page.status_code == 200, path
                assert page.text == INDEX
                assert page.headers["content-type"].startswith("text/html")
                assert page.headers["cache-control"] == "no-cache"
                csp = page.headers["content-security-policy"]
                assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            asset = await client.get("/assets/app-3f9a1c.js")
            assert asset.status_code == 200
            assert asset.headers["content-type"].startswith("text/javascript")
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            icon = await client.get("/favicon.svg")
            assert icon.headers["content-type"].startswith("image/svg+xml")
            assert icon.headers["cache-control"] == "no-cache"
            # A missing asset or API path is a JSON 404, never the page.
            for path in ("/assets/app-000000.js", "/api/nowhere", "/api"):
                missing = await client.get(path)
                assert missing.status_code == 404, path
                assert missing.json()["code"] == "not_found"
            # The API behind it is unchanged, with its strict policy.
            jwks = await client.get("/api/auth/.well-known/jwks.json")
            assert jwks.status_code == 200
            assert "default-src 'none'" in jwks.headers["content-security-policy"]
            assert (
                "cache-control" not in jwks.headers
                or "immutable" not in jwks.headers["cache-control"]
            )


async def test_a_revalidated_page_keeps_the_page_policy(stack: TestStack, frontend: Path) -> None:
    # A reload revalidates index.html (no-cache) and gets a 304, whose headers the browser
    # merges into the cached page: with the API's `default-src 'none'` there, Chromium blocked
    # the page's own script and styles on every reload (found by tests/e2e/test_web_app.py).
    with stack.extra_gateway({"FRONTEND_DIR": str(frontend)}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            for path in ("/", "/chat/0123456789abcdef01234567"):
                page = await client.get(path)
                validators = {
                    "If-None-Match": page.headers["etag"],
                    "If-Modified-Since": page.headers["last-modified"],
                }
                again = await client.get(path, headers=validators)
                assert again.status_code == 304, path
                assert (
                    again.headers["content-security-policy"]
                    == (page.headers["content-security-policy"])
                )
                assert "default-src 'self'" in again.headers["content-security-policy"]


async def test_no_frontend_means_json_404_at_the_root(http: httpx.AsyncClient) -> None:
    for path in ("/", "/chat/123", "/index.html"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"msg": "Not found", "code": "not_found"}
