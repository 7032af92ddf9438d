"""Short versions of the fault drills (RELIABILITY.md; the full ones are `bench/drill.py`): a
contract-following client load through the gateway, one fault each, and the checker's account
of every message: nothing acknowledged is lost, nothing is stored or shown twice, nothing arrives
out of order, and the stack recovers."""

from __future__ import annotations

import dataclasses

import pytest

from bench.drills.emails import run_email_drill
from bench.drills.faults import BrokerStop, Fault, ProcessCrash
from bench.drills.messages import DrillResult, Load, run_message_drill
from bench.drills.partition import AmqpPartition, namespaces_available, replica_in_namespace
from bench.drills.report import details
from scripts.devstack import DevStack
from tests.support.rabbit import require_rabbitmqctl

# 16 sockets in 8 conversations, 20 messages/s for 8 s, the fault 2 s in.
SHORT = Load(conversations=8, rate=20, duration_s=8, fault_at_s=2, settle_s=30)


def say(line: str) -> None:
    print(f"[drill] {line}", flush=True)


DRILLS = [
    pytest.param(ProcessCrash("realtime-1", down_s=3), id="realtime-kill"),
    pytest.param(ProcessCrash("conversations", down_s=2), id="conversations-kill"),
    pytest.param(
        BrokerStop(down_s=3),
        id="rabbitmq-stop",
        marks=[pytest.mark.broker_fault],
    ),
    pytest.param(ProcessCrash("secantus", down_s=2, kill=False), id="database-stop"),
]


async def test_partition_drill(drill_stack_dev: DevStack) -> None:
    why_not = namespaces_available()
    if why_not:
        pytest.skip(f"no network namespaces here: {why_not}")
    async with replica_in_namespace(drill_stack_dev, "realtime-1", say) as ns:
        result = await run_message_drill(
            drill_stack_dev, name="partition", fault=AmqpPartition(ns, 3), load=SHORT, say=say
        )
    check_figures(result)


@pytest.mark.parametrize("fault", DRILLS)
async def test_message_drill(drill_stack_dev: DevStack, fault: Fault) -> None:
    if isinstance(fault, BrokerStop):
        require_rabbitmqctl()
    load = SHORT
    if isinstance(fault, ProcessCrash) and fault.process == "conversations":
        # A conversation whose transaction the kill cut takes sends again once the database
        # server reaps that transaction, 60 s later (RELIABILITY.md).
        load = dataclasses.replace(SHORT, settle_s=90)
    result = await run_message_drill(
        drill_stack_dev, name=fault.description, fault=fault, load=load, say=say
    )
    check_figures(result)


def check_figures(result: DrillResult) -> None:
    figures = result.figures
    print(details(result.to_json()))
    assert figures.unacknowledged == 0, figures.errors
    assert figures.acknowledged == int(SHORT.rate * SHORT.duration_s)
    assert figures.stored == figures.acknowledged
    assert figures.lost == 0, figures.lost_examples
    assert figures.duplicated == 0
    assert figures.out_of_order == 0
    assert figures.seq_gaps == figures.conflicting_acks == 0
    assert figures.delivered_live + figures.delivered_catch_up == 2 * figures.stored
    assert figures.recovered_s is not None


async def test_notifications_drill(drill_stack_dev: DevStack) -> None:
    result = await run_email_drill(
        drill_stack_dev, load=Load(conversations=6, rate=20), say=say, down_s=2
    )
    figures = result.figures
    print(details(result.to_json()))
    assert figures.acknowledged == figures.stored == 6 * 3
    assert figures.lost == 0, figures.lost_examples
    assert figures.delivered_live == figures.stored
    # An email cut off by a kill between SMTP and its record is sent again with the same
    # Message-ID, one email to the receiver (errors["resent_same_message_id"] counts them).
    assert figures.duplicated == 0, figures.lost_examples
