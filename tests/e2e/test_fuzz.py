"""Schemathesis over every service's OpenAPI document against the running stack (issue 13).

Bounded here (WORKCITY_FUZZ_EXAMPLES test cases per operation, 5 by default); the README has
the command for a longer run. Zero 5xx, answers that match their own schema, JSON errors, no
stack trace in any answer (tests/support/fuzz_hooks.py) nor in any log (the e2e session)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from scripts.devstack.config import DEV_INTERNAL_API_TOKEN
from tests.support import fuzz
from tests.support.stack import TestStack
from tests.support.users import admin_token, new_user


async def test_every_route_survives_the_fuzz(http: httpx.AsyncClient, stack: TestStack) -> None:
    if stack.dev is None:
        pytest.skip("needs the stack the tests start themselves (the services' own ports)")
    examples = int(os.environ.get("WORKCITY_FUZZ_EXAMPLES", "5"))
    customer = await new_user(http, stack, "customer")
    ports = {name: stack.port(name) for name in stack.dev.config.ports}
    targets = fuzz.targets(
        stack.gateway_url,
        ports,
        customer_token=customer.token,
        admin_token=await admin_token(http, stack),
        internal_token=stack.dev.config.environ().get("INTERNAL_API_TOKEN", DEV_INTERNAL_API_TOKEN),
    )
    assert len(targets) >= 8
    failed = []
    for target in targets:
        outcome = await asyncio.to_thread(fuzz.run, target, examples=examples)
        if not outcome.passed:
            failed.append(f"--- {target.name} ---\n{outcome.summary()}")
    assert not failed, "\n".join(failed)
