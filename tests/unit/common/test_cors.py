"""The one CORS rule (workcity_common.cors) the gateway and the realtime service share."""

from __future__ import annotations

import pytest
from workcity_common import cors


def rule(environment: str, cors_origins: str | None = None, frontend_url: str | None = None):
    return cors.allowed_origins(
        cors_origins=cors_origins, frontend_url=frontend_url, environment=environment
    )


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_allow_any_origin_unless_a_list_is_set(environment: str) -> None:
    assert rule(environment) is None
    # FRONTEND_URL there is the links in emails (the local stack's gateway), not a restriction.
    assert rule(environment, frontend_url="http://127.0.0.1:8080") is None
    assert rule(environment, cors_origins="http://localhost:5173") == {"http://localhost:5173"}


def test_production_takes_the_list_else_frontend_url_else_nothing() -> None:
    assert rule("production") == frozenset()
    assert rule("production", frontend_url="https://Shop.example/app/?x=1") == {
        "https://shop.example"
    }
    assert rule(
        "production",
        cors_origins=" http://localhost:5173/ ,https://shop.example:8443,,",
        frontend_url="https://ignored.example",
    ) == {"http://localhost:5173", "https://shop.example:8443"}
    assert rule("production", cors_origins="*") is None
    # Blank counts as unset (compose passes "" for an unset variable).
    assert rule("production", cors_origins="  ", frontend_url="http://a.example") == {
        "http://a.example"
    }


@pytest.mark.parametrize(
    "listed",
    [
        "localhost:5173",
        "https://shop.example/app",
        "ftp://shop.example",
        "https://user@shop.example",
        'https://shop.example" $x; "',
        "https://shop example",
        "https://shop.example?x",
    ],
)
def test_anything_but_an_origin_is_refused(listed: str) -> None:
    with pytest.raises(ValueError):
        rule("production", cors_origins=listed)


def test_a_frontend_url_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ValueError):
        rule("production", frontend_url="shop.example")


def test_allows_no_origin_the_own_origin_and_the_listed_ones() -> None:
    origins = frozenset({"http://localhost:5173"})
    own = "http://chat.example:8080"
    assert cors.allows(origins, None, own_origin=own)  # not a browser
    assert cors.allows(origins, "http://localhost:5173", own_origin=own)
    assert cors.allows(origins, "HTTP://CHAT.example:8080", own_origin=own)
    assert not cors.allows(origins, "http://chat.example", own_origin=own)  # another port
    assert not cors.allows(origins, "http://evil.example", own_origin=own)
    assert not cors.allows(frozenset(), "http://evil.example", own_origin=None)
    assert cors.allows(None, "http://anything.example", own_origin=None)


def test_nginx_map_entries() -> None:
    assert cors.nginx_map_entries(None) == '"~." $http_origin;'
    assert cors.nginx_map_entries(frozenset()) == ""
    assert cors.nginx_map_entries(frozenset({"https://b.example", "http://a.example:5173"})) == (
        '"http://a.example:5173" $http_origin; "https://b.example" $http_origin;'
    )
