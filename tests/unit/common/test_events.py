from datetime import UTC, datetime

import pytest
from workcity_common.events import (
    MessageCreated,
    MessageData,
    MessageEventData,
    UnknownEvent,
    UserData,
    UserRef,
    UserRegistered,
    parse_event,
)


def test_envelope_round_trips_as_the_typed_event() -> None:
    event = UserRegistered(producer="auth", data=UserData(id="u1", email="a@b.io", role="agent"))
    parsed = parse_event(event.to_bytes())
    assert isinstance(parsed, UserRegistered)
    assert parsed == event
    assert set(event.model_dump()) == {"id", "type", "version", "occurred_at", "producer", "data"}


def test_unknown_type_and_garbage_are_refused() -> None:
    with pytest.raises(UnknownEvent):
        parse_event(b'{"type": "user.exploded", "data": {}}')
    with pytest.raises(UnknownEvent):
        parse_event(b"not json")
    with pytest.raises(UnknownEvent):
        parse_event(b"[1, 2]")


def test_extra_fields_are_refused() -> None:
    event = UserRegistered(producer="auth", data=UserData(id="u1", email="a@b.io", role="agent"))
    raw = event.model_dump(mode="json")
    raw["data"]["password_hash"] = "leak"
    with pytest.raises(UnknownEvent):
        parse_event(raw)


def test_message_api_shape_matches_the_contract() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    message = MessageData(
        id="m1",
        conversation_id="c1",
        seq=3,
        sender=UserRef(id="u1", email="a@b.io", role="customer"),
        text="hi",
        read_by=["u1"],
        created_at=at,
        updated_at=at,
    )
    api = message.to_api()
    assert api["_id"] == "m1"
    assert api["conversation"] == "c1"
    assert api["sender"] == {"_id": "u1", "email": "a@b.io", "role": "customer"}
    assert api["readBy"] == ["u1"]
    assert api["createdAt"] == "2026-01-02T03:04:05.678Z"
    event = MessageCreated(
        producer="c", data=MessageEventData(message=message, participant_ids=["u1"])
    )
    assert parse_event(event.to_bytes()) == event
