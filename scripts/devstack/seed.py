"""Development seed data, made through the public API as a person would: the default support team
(`Support`) holds the development admin, so the agent inbox works at once (a customer's request
shows in the admin's `unassigned` view, ready to claim). Idempotent: a stack restarted on kept
data is left as it is. Availability stays the admin's own choice (the desk never sets it)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

# Requests to 127.0.0.1 must never go through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    # The stack's own gateway (http://127.0.0.1:port), never a URL from outside.
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    with _OPENER.open(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def seed_desk(gateway_url: str, email: str, password: str, say: Callable[[str], None]) -> bool:
    """Put the admin `email` in the default team; True when it is a member afterwards. Never
    raises: a stack without the seed still works (the admin can add themselves)."""
    try:
        login = _call(
            "POST", f"{gateway_url}/api/auth/login", {"email": email, "password": password}
        )
        token, me = login["token"], login["user"]["id"]
        teams = _call("GET", f"{gateway_url}/api/teams", token=token)
        default = next(t for t in teams if t["isDefault"])
        if me in default["members"]:
            return True
        _call(
            "PUT",
            f"{gateway_url}/api/teams/{default['_id']}/members",
            {"userIds": [*default["members"], me]},
            token,
        )
    except (OSError, urllib.error.URLError, ValueError, KeyError, StopIteration) as exc:
        say(f"desk seed skipped ({exc!r}): add yourself to a team with PUT /api/teams/:id/members")
        return False
    say(f"desk: {email} is a member of the default team {default['name']!r}")
    return True
