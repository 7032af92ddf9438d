"""Users and conversations for a benchmark run, made through the gateway's REST API like any
client would: the admin creates agents, customers sign up, each customer opens a conversation
with an agent. Names carry the run's tag, so runs never collide and nothing is cleaned up."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# Transient answers worth another try: the login/signup rate limit, a service still catching up
# (a new agent reaches the conversations service's directory through an event), and a 500 (the
# first services answered one on a pooled database connection the server had closed while idle).
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_ATTEMPTS = 8


class PrepareError(RuntimeError):
    pass


@dataclass
class User:
    email: str
    password: str
    role: str
    id: str = ""
    token: str = ""
    refresh_token: str = ""
    token_at: float = 0.0

    def socket_auth(self) -> dict[str, str]:
        return {"id": self.id, "token": self.token}


@dataclass
class Pair:
    conversation_id: str
    customer: User
    agent: User

    def to_load(self) -> dict[str, Any]:
        return {
            "id": self.conversation_id,
            "customer": self.customer.socket_auth(),
            "agent": self.agent.socket_auth(),
        }


@dataclass
class Population:
    pairs: list[Pair]
    fanout: Pair | None = None
    users: list[User] = field(default_factory=list)


class Api:
    """An HTTP client per source address (the gateway rate-limits logins per address)."""

    def __init__(self, base_url: str, addresses: Sequence[str], concurrency: int = 16) -> None:
        self._clients = [
            httpx.AsyncClient(
                base_url=base_url,
                transport=httpx.AsyncHTTPTransport(local_address=address),
                timeout=httpx.Timeout(30.0),
                trust_env=False,
            )
            for address in addresses
        ]
        self._next = itertools.cycle(self._clients)
        self._limit = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: dict[str, Any] | None = None,
        ok: Callable[[httpx.Response], bool] = lambda r: r.status_code < 300,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        last = "no answer"
        for attempt in range(_ATTEMPTS):
            async with self._limit:
                try:
                    response = await next(self._next).request(
                        method, path, json=json, headers=headers
                    )
                except httpx.HTTPError as exc:
                    last = repr(exc)
                    response = None
            if response is not None:
                if ok(response):
                    return response.json() if response.content else None
                last = f"{response.status_code} {response.text[:200]}"
                retry = response.status_code in _RETRY_STATUSES or (
                    response.status_code == 404 and "recipient_not_found" in response.text
                )
                if response.status_code >= 500:
                    print(f"[bench] {method} {path}: {last} (retrying)", file=sys.stderr)
                if not retry:
                    break
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        raise PrepareError(f"{method} {path}: {last}")


async def _gather(jobs: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*jobs))


async def login(api: Api, user: User) -> None:
    body = await api.call(
        "POST", "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    user.id, user.token = body["user"]["id"], body["token"]
    user.refresh_token, user.token_at = body["refreshToken"], time.monotonic()


async def refresh(api: Api, user: User) -> None:
    body = await api.call("POST", "/api/auth/refresh", json={"refreshToken": user.refresh_token})
    user.token, user.refresh_token, user.token_at = (
        body["token"],
        body["refreshToken"],
        time.monotonic(),
    )


async def refresh_stale(api: Api, users: Sequence[User], max_age_s: float) -> int:
    """Fresh access tokens for users whose token is older than `max_age_s` (they last 15 min)."""
    stale = [u for u in users if time.monotonic() - u.token_at > max_age_s]
    await _gather([refresh(api, u) for u in stale])
    return len(stale)


async def prepare(
    api: Api,
    *,
    tag: str,
    admin_email: str,
    admin_password: str,
    pairs: int,
    say: Callable[[str], None],
) -> Population:
    started = time.monotonic()
    admin = User(admin_email, admin_password, "admin")
    await login(api, admin)
    password = f"bench-{tag}-password"

    def person(role: str, i: int) -> User:
        return User(f"bench-{tag}-{role}{i}@bench.example", password, role)

    # One pair more than asked for: the fan-out scenario's conversation.
    agents = [person("agent", i) for i in range(pairs + 1)]
    customers = [person("customer", i) for i in range(pairs + 1)]
    await _gather(
        [
            api.call(
                "POST",
                "/api/auth/admin/create-user",
                token=admin.token,
                json={"email": a.email, "password": a.password, "role": "agent"},
            )
            for a in agents
        ]
        + [
            api.call("POST", "/api/auth/signup", json={"email": c.email, "password": c.password})
            for c in customers
        ]
    )
    users = agents + customers
    await _gather([login(api, u) for u in users])

    async def open_conversation(customer: User, agent: User) -> Pair:
        body = await api.call(
            "POST", "/api/conversations", token=customer.token, json={"recipientId": agent.id}
        )
        return Pair(body["_id"], customer, agent)

    made = await _gather([open_conversation(c, a) for c, a in zip(customers, agents, strict=True)])
    say(
        f"prepared {len(users)} users and {len(made)} conversations in {time.monotonic() - started:.1f} s"
    )
    return Population(pairs=made[:pairs], fanout=made[pairs], users=users)


async def seed_history(api: Api, pairs: Sequence[Pair], messages: int) -> None:
    """Give conversations a history to read (when the message scenarios did not run first)."""

    async def fill(pair: Pair) -> None:
        for i in range(messages):
            sender = pair.customer if i % 2 == 0 else pair.agent
            await api.call(
                "POST",
                f"/api/conversations/{pair.conversation_id}/messages",
                token=sender.token,
                json={"text": f"history {i} " + "x" * 50},
            )

    await _gather([fill(p) for p in pairs])
