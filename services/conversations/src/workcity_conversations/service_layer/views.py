"""How conversations and messages are shown: the shared event models' data (whose `to_api()`
is also the REST answer, so a REST answer and the socket payload for the same fact are
identical), the list item with its unread count, and the events a send publishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workcity_common.events import (
    AttachmentData,
    ConversationData,
    CsatData,
    Event,
    MessageCreated,
    MessageData,
    MessageEventData,
    MessageRead,
    MessageReadData,
    SenderRead,
    TeamRef,
    UserRef,
)

from workcity_conversations.domain.model import Attachment, Conversation, Message, Person
from workcity_conversations.domain.reads import unread_count

PRODUCER = "conversations"


@dataclass(frozen=True, slots=True)
class Sent:
    message: dict[str, Any]
    replayed: bool  # True: a retry answered with the message its first attempt stored


@dataclass(frozen=True, slots=True)
class PreparedSend:
    """A send that passed its checks and took its files, ready to be stored."""

    caller: Person
    conversation_id: str
    text: str
    client_message_id: str | None
    attachments: tuple[Attachment, ...]
    people: Mapping[str, Person]


@dataclass(frozen=True, slots=True)
class Opened:
    conversation: dict[str, Any]
    created: bool


def now_ms() -> datetime:
    """Now, to the millisecond: what MongoDB stores, so an answer and a later read agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ref(user_id: str, people: Mapping[str, Person]) -> UserRef:
    person = people.get(user_id)
    if person is None:
        # Only if the directory lost a user; the id is still right, the email unknown.
        return UserRef(id=user_id, email="")
    return UserRef(id=person.id, email=person.email, role=person.role, name=person.name)


def conversation_data(
    conversation: Conversation,
    people: Mapping[str, Person],
    team_names: Mapping[str, str] | None = None,
) -> ConversationData:
    team = conversation.team_id
    return ConversationData(
        id=conversation.id,
        participants=[_ref(p, people) for p in conversation.participants],
        last_seq=conversation.last_seq,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        status=conversation.status,
        assignee=_ref(conversation.assignee_id, people) if conversation.assignee_id else None,
        team=TeamRef(id=team, name=(team_names or {}).get(team, "")) if team else None,
        priority=conversation.priority,
        labels=list(conversation.labels),
        waiting_since=conversation.waiting_since,
        snoozed_until=conversation.snoozed_until,
        version=conversation.version,
        subject=conversation.subject,
        order_id=conversation.order_id,
        csat=CsatData(
            requested_at=conversation.csat.requested_at,
            rating=conversation.csat.rating,
            comment=conversation.csat.comment,
            rated_at=conversation.csat.rated_at,
        )
        if conversation.csat
        else None,
    )


def conversation_view(data: ConversationData, viewer: Person) -> dict[str, Any]:
    """The conversation as `viewer` may see it: customers get only `status` and `assignee` of
    the desk's state."""
    return data.to_api() if viewer.is_support else data.customer_api()


def message_data(
    message: Message, conversation: Conversation, people: Mapping[str, Person]
) -> MessageData:
    return MessageData(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender=_ref(message.sender_id, people),
        text=message.text,
        attachments=[
            AttachmentData(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size)
            for a in message.attachments
        ],
        client_message_id=message.client_message_id,
        read_by=conversation.read_by(message.seq),
        created_at=message.created_at,
        updated_at=message.updated_at,
        edited=message.edited,
    )


def read_data(
    conversation: Conversation, reader: Person, position: int, read_at: datetime
) -> MessageReadData:
    return MessageReadData(
        conversation_id=conversation.id,
        user_id=reader.id,
        seq=position,
        read_at=read_at,
        participant_ids=list(conversation.participants),
    )


def list_item(
    conversation: Conversation,
    caller: Person,
    people: Mapping[str, Person],
    last_messages: Mapping[str, Message],
    team_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A conversation as the caller's list shows it: with its last message and unread count."""
    last = last_messages.get(conversation.last_message_id or "")
    item = conversation_view(conversation_data(conversation, people, team_names), caller)
    item["lastMessage"] = message_data(last, conversation, people).to_api() if last else None
    item["unreadCount"] = unread_count(
        conversation.last_seq,
        conversation.read_position(caller.id),
        conversation.deleted_seqs,
    )
    return item


def sent_events(
    after: Conversation,
    message: Message,
    read_before: int,
    sender: Person,
    people: Mapping[str, Person],
    version: int,
) -> list[Event]:
    """What a send publishes: `message.created` of `version`; the sender had read up to
    `read_before` before it."""
    if version >= 2:
        # One event: the sender's read position rides on it (no message.read).
        read = SenderRead(seq=message.seq, read_at=message.created_at, previous_seq=read_before)
        data = MessageEventData(
            message=message_data(message, after, people),
            participant_ids=list(after.participants),
            sender_read=read,
        )
        return [MessageCreated(producer=PRODUCER, version=2, data=data)]
    data = MessageEventData(
        message=message_data(message, after, people),
        participant_ids=list(after.participants),
    )
    created: list[Event] = [MessageCreated(producer=PRODUCER, data=data)]
    if read_before < message.seq - 1:
        # The send also read the others' messages since the sender's last read: their
        # authors see the receipt, as for an explicit mark.
        receipt = read_data(after, sender, message.seq, message.created_at)
        created.append(MessageRead(producer=PRODUCER, data=receipt))
    return created
