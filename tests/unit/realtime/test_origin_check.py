"""The Socket.IO handshake's Origin check: the gateway's allow-list plus the page's own origin."""

from __future__ import annotations

from workcity_realtime.entrypoints.sockets import origin_check
from workcity_realtime.settings import RealtimeSettings


def test_development_allows_any_origin() -> None:
    assert origin_check(RealtimeSettings(ENVIRONMENT="development").allowed_origins) == "*"


def test_production_allows_frontend_url_and_the_page_own_origin() -> None:
    settings = RealtimeSettings(
        ENVIRONMENT="production",
        FRONTEND_URL="https://shop.example/app",
        AMQP_URL="amqp://workcity:a-real-broker-password@rabbitmq:5672/",
    )
    check = origin_check(settings.allowed_origins)
    assert callable(check)
    behind_gateway = {
        "HTTP_HOST": "chat.example",
        "HTTP_X_FORWARDED_HOST": "chat.example:8443",
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "https",
    }
    assert check("https://shop.example", behind_gateway)
    assert check("https://chat.example:8443", behind_gateway)  # served by the gateway itself
    assert check(None, behind_gateway)  # not a browser
    assert not check("https://chat.example", behind_gateway)
    assert not check("https://evil.example", behind_gateway)
    assert check("http://chat.local:8080", {"HTTP_HOST": "chat.local:8080"})


def test_a_malformed_origin_stops_the_start() -> None:
    try:
        RealtimeSettings(CORS_ORIGINS="shop.example")
    except ValueError as exc:
        assert "CORS_ORIGINS" in str(exc)
    else:
        raise AssertionError("a malformed CORS_ORIGINS was accepted")
