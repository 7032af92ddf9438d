"""Users who existed before the conversations service's event queue (the first admin, created
at auth's start-up) are known to it: copied once from auth's internal listing."""

from __future__ import annotations

import httpx

from tests.support.stack import TestStack
from tests.support.users import login, new_user


async def test_first_admin_can_be_messaged_by_a_customer(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    admin = await login(http, stack.admin_email, stack.admin_password)
    customer = await new_user(http, stack)
    created = await http.post(
        "/api/conversations", json={"recipientId": admin["user"]["id"]}, headers=customer.headers
    )
    assert created.status_code in (200, 201), created.text
    participants = {p["_id"]: p["email"] for p in created.json()["participants"]}
    assert participants == {admin["user"]["id"]: stack.admin_email, customer.id: customer.email}
