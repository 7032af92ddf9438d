"""The stack `scripts/dev up` starts has the development admin in the default team `Support`
(issue 15 "Seed data"), so a person trying it sees the agent inbox work at once."""

from __future__ import annotations

import httpx
import pytest

from tests.support.stack import TestStack
from tests.support.users import login, new_user

pytestmark = pytest.mark.usefixtures("stack")


async def test_the_dev_admin_is_in_the_default_team_and_sees_its_queue(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    if stack.dev is None:
        pytest.skip("an external stack's seed is its own")
    admin = await login(http, stack.admin_email, stack.admin_password)
    headers = {"Authorization": f"Bearer {admin['token']}"}
    teams = (await http.get("/api/teams", headers=headers)).json()
    [default] = [t for t in teams if t["isDefault"]]
    assert default["name"] == "Support" and admin["user"]["id"] in default["members"]
    # A customer's request without a team lands in the admin's queue, ready to claim.
    customer = await new_user(http, stack)
    opened = await http.post("/api/support", json={"text": "hello"}, headers=customer.headers)
    assert opened.status_code == 201, opened.text
    queue = await http.get(
        "/api/inbox", params={"view": "unassigned", "limit": "200"}, headers=headers
    )
    assert opened.json()["_id"] in [c["_id"] for c in queue.json()["items"]]
    claimed = await http.post(f"/api/conversations/{opened.json()['_id']}/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
