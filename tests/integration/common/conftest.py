from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from workcity_common.broker import Broker


@pytest.fixture
async def broker(rabbit_url: str, unique_name: str) -> AsyncIterator[Broker]:
    """A publisher on the test's own exchange."""
    broker = Broker(rabbit_url, f"{unique_name}.events", reconnect_interval_s=0.2)
    broker.start()
    await broker.wait_ready(10)
    yield broker
    await broker.close()
