"""What a participant has not read yet, for the notifications service: when an email is due, it
asks here instead of tracking every message and every read itself (ARCHITECTURE.md, "the message
path has a budget")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workcity_conversations.domain import rules
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Message
from workcity_conversations.domain.reads import unread_count, unread_from
from workcity_conversations.service_layer.ports import ConversationRepository, Directory

CONVERSATION_GONE = "conversation_not_found"


@dataclass(frozen=True, slots=True)
class Unread:
    last_seq: int
    read_seq: int
    count: int
    messages: list[Message]


async def unread_for(
    store: ConversationRepository,
    conversation_id: str,
    user_id: str,
    after_seq: int,
    limit: int,
) -> Unread:
    """The oldest `limit` messages of others after both the user's read position and `after_seq`
    (what the caller already handled), with how many there are in all. Not a participant: none."""
    key = rules.parse_id(conversation_id, "conversation")
    rules.parse_id(user_id, "user")
    conversation = await store.conversation(key)
    if conversation is None:
        # A code of its own: the caller drops the email only for this, not for a 404 of a route
        # that is switched off.
        raise NotFound("Conversation not found", code=CONVERSATION_GONE)
    read_seq = conversation.read_position(user_id)
    if not conversation.has_participant(user_id):
        return Unread(conversation.last_seq, read_seq, 0, [])
    start = unread_from(read_seq, after_seq)
    # The user's own messages are never unread to them (a send moves the sender's read position).
    messages = await store.messages_of_others(key, user_id, start, limit)
    count = unread_count(conversation.last_seq, start, conversation.deleted_seqs)
    return Unread(conversation.last_seq, read_seq, max(count, len(messages)), messages)


def unread_json(unread: Unread, emails: dict[str, Any]) -> dict[str, Any]:
    return {
        "lastSeq": unread.last_seq,
        "readSeq": unread.read_seq,
        "unreadCount": unread.count,
        "messages": [
            {
                "id": m.id,
                "seq": m.seq,
                "senderId": m.sender_id,
                "senderEmail": emails.get(m.sender_id, ""),
                "text": m.text,
                "createdAt": m.created_at.isoformat(),
            }
            for m in unread.messages
        ],
    }


async def sender_emails(directory: Directory, unread: Unread) -> dict[str, Any]:
    people = await directory.get_many({m.sender_id for m in unread.messages})
    return {user_id: person.email for user_id, person in people.items()}
