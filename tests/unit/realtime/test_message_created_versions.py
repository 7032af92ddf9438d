"""message.created version 2 carries the sender's read position; version 1 (an older producer
during a rolling deploy, or events still queued) comes with a message.read of its own. The
realtime consumer reads both and the room gets the same emits."""

from __future__ import annotations

from typing import Any

import orjson
from workcity_common.events import parse_event
from workcity_realtime.entrypoints.events import dispatch

CID = "64b7f0c2a1b2c3d4e5f60718"
AGENT = {"id": "a" * 24, "email": "agent@x.test", "role": "agent"}
CUSTOMER_ID = "c" * 24
AT = "2026-12-06T12:00:00.000Z"


class RecordingHub:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.delivery = self  # message events go to the hub's delivery

    async def message_created(self, cid: str, message: dict[str, Any], participants: Any) -> None:
        self.calls.append(("newMessage", (cid, message["seq"], list(participants))))

    async def message_read(self, cid: str, receipt: dict[str, Any]) -> None:
        self.calls.append(("messageRead", (cid, receipt)))


def message(seq: int) -> dict[str, Any]:
    return {
        "id": "m" * 23 + str(seq),
        "conversation_id": CID,
        "seq": seq,
        "sender": AGENT,
        "text": "answer",
        "created_at": AT,
        "updated_at": AT,
    }


def envelope(type_: str, version: int, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": f"{type_}-{version}-{data.get('seq', data.get('message', {}).get('seq'))}",
            "type": type_,
            "version": version,
            "occurred_at": AT,
            "producer": "conversations",
            "data": data,
        }
    )


def v1_reply(seq: int) -> list[bytes]:
    """As the previous release publishes a reply that read the customer's messages."""
    participants = [CUSTOMER_ID, AGENT["id"]]
    return [
        envelope("message.created", 1, {"message": message(seq), "participant_ids": participants}),
        envelope(
            "message.read",
            1,
            {
                "conversation_id": CID,
                "user_id": AGENT["id"],
                "seq": seq,
                "read_at": AT,
                "participant_ids": participants,
            },
        ),
    ]


def v2_message(seq: int, previous_seq: int) -> bytes:
    return envelope(
        "message.created",
        2,
        {
            "message": message(seq),
            "participant_ids": [CUSTOMER_ID, AGENT["id"]],
            "sender_read": {"seq": seq, "read_at": AT, "previous_seq": previous_seq},
        },
    )


async def emits(bodies: list[bytes]) -> list[tuple[str, Any]]:
    hub = RecordingHub()
    for body in bodies:
        await dispatch(hub, parse_event(body))  # type: ignore[arg-type]
    return hub.calls


async def test_both_forms_of_a_reply_give_the_message_then_the_receipt() -> None:
    old = await emits(v1_reply(3))
    new = await emits([v2_message(3, previous_seq=0)])
    assert old == new
    assert new == [
        ("newMessage", (CID, 3, [CUSTOMER_ID, AGENT["id"]])),
        (
            "messageRead",
            (CID, {"conversationId": CID, "userId": AGENT["id"], "seq": 3, "readAt": AT}),
        ),
    ]


async def test_a_sender_continuing_their_run_gives_no_receipt_in_either_form() -> None:
    old = await emits(v1_reply(4)[:1])  # version 1 publishes no message.read then
    new = await emits([v2_message(4, previous_seq=3)])
    assert old == new == [("newMessage", (CID, 4, [CUSTOMER_ID, AGENT["id"]]))]
