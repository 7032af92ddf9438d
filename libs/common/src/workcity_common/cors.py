"""Which browser origins may call the API and open a socket: one rule for the gateway (REST, and
Socket.IO behind it) and the realtime service (Socket.IO reached directly, as through the
Kubernetes ingress).

`CORS_ORIGINS` (a comma-separated list, or `*`) when set; otherwise the origin of `FRONTEND_URL`
in production (the original backend's `FRONTEND_URL` is its CORS origin), any origin in
development and test. Production with neither allows no other origin: a frontend served by the
gateway itself is same-origin and needs no CORS.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ANY = "*"

# scheme://host[:port], lower case, as browsers send it. Nothing else may reach the nginx map.
_ORIGIN = re.compile(r"https?://(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?")


def origin_of(url: str) -> str:
    """The origin of a URL (`https://shop.example/app/` -> `https://shop.example`).

    Raises ValueError for anything that is not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    if parts.username or parts.password or not _ORIGIN.fullmatch(origin):
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    return origin


def allowed_origins(
    *, cors_origins: str | None, frontend_url: str | None, environment: str
) -> frozenset[str] | None:
    """The allowed origins, or None for any origin.

    Raises ValueError when a listed origin is not one (a path, a query, no scheme).
    """
    listed = (cors_origins or "").strip()
    if listed == ANY:
        return None
    if listed:
        origins = set()
        for item in listed.split(","):
            item = item.strip().rstrip("/")
            if not item:
                continue
            try:
                origin = origin_of(item)
            except ValueError:
                origin = ""
            if origin != item.lower():
                raise ValueError(f"CORS_ORIGINS: {item!r} is not an origin (scheme://host[:port])")
            origins.add(origin)
        return frozenset(origins)
    if environment != "production":
        return None
    if frontend_url and frontend_url.strip():
        try:
            return frozenset({origin_of(frontend_url)})
        except ValueError as exc:
            raise ValueError(f"FRONTEND_URL: {exc}") from None
    return frozenset()


def nginx_map_entries(origins: frozenset[str] | None) -> str:
    """Entries of the gateway's `map $http_origin $cors_allow_origin` (GATEWAY_CORS_ORIGIN_MAP):
    an allowed origin maps to itself, anything else to the map's empty default."""
    if origins is None:
        return '"~." $http_origin;'
    return " ".join(f'"{origin}" $http_origin;' for origin in sorted(origins))


def allows(origins: frozenset[str] | None, origin: str | None, *, own_origin: str | None) -> bool:
    """Whether a request from `origin` may go on. No Origin header (not a browser) and the
    server's own origin (a page it serves) always may; `origins` None allows any."""
    if not origin or origins is None:
        return True
    origin = origin.lower()
    return origin in origins or (own_origin is not None and origin == own_origin.lower())
