"""The conversations' and messages' documents in MongoDB: their indexes, and the mapping between
documents and the domain model.

- conversations `{_id, participants: [userId], pair_key, last_seq, last_message_id,
  last_activity, reads: {userId: seq}, read_at: {userId: time}, deleted_seqs, created_at,
  updated_at}` and the desk's fields (adapters/desk_store.py); `last_activity` is the ObjectId of
  the latest message (or of the conversation itself), so "most recently active first" is one
  index walk and a unique, stable page cursor.
- messages `{_id, conversation, seq, sender, text, attachments, client_message_id?, edited,
  created_at, updated_at}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError
from workcity_common.database import Document

from workcity_conversations.domain.model import Attachment, Conversation, Csat, Message

# Index names are fixed so the explain test (and an operator) can refer to them.
IDX_PAIR = "pair_key_unique"
IDX_INBOX = "participants_activity"
IDX_HISTORY = "conversation_seq_unique"
IDX_IDEMPOTENCY = "conversation_sender_client_message_id_unique"

CONVERSATION_INDEXES = [
    # One conversation per pair of users, also when two creates race.
    IndexModel([("pair_key", ASCENDING)], name=IDX_PAIR, unique=True),
    # The caller's conversations, most recently active first (multikey on participants).
    IndexModel([("participants", ASCENDING), ("last_activity", DESCENDING)], name=IDX_INBOX),
]
MESSAGE_INDEXES = [
    # History pages, catch-up after a seq, the latest message before a deleted one, and the
    # guarantee that a seq is never used twice in a conversation.
    IndexModel([("conversation", ASCENDING), ("seq", ASCENDING)], name=IDX_HISTORY, unique=True),
    # Idempotent sends. Partial, so messages without a client id never collide. `$gt: ""` rather
    # than `$type: "string"`: both servers accept it, and an equality query on a (non-empty)
    # string id implies it, so the planner picks this index for the lookup.
    IndexModel(
        [("conversation", ASCENDING), ("sender", ASCENDING), ("client_message_id", ASCENDING)],
        name=IDX_IDEMPOTENCY,
        unique=True,
        partialFilterExpression={"client_message_id": {"$gt": ""}},
    ),
]


def oid(value: str) -> ObjectId:
    return ObjectId(value)


def conversation_from_doc(doc: Document) -> Conversation:
    last_message = doc.get("last_message_id")
    return Conversation(
        id=str(doc["_id"]),
        participants=tuple(doc["participants"]),
        last_seq=int(doc.get("last_seq", 0)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        last_message_id=str(last_message) if last_message is not None else None,
        reads={k: int(v) for k, v in (doc.get("reads") or {}).items()},
        read_at=dict(doc.get("read_at") or {}),
        deleted_seqs=tuple(int(s) for s in doc.get("deleted_seqs") or ()),
        status=doc.get("status", "open"),
        assignee_id=doc.get("assignee"),
        team_id=str(doc["team"]) if doc.get("team") is not None else None,
        priority=doc.get("priority"),
        labels=tuple(doc.get("labels") or ()),
        waiting_since=doc.get("waiting_since"),
        snoozed_until=doc.get("snoozed_until"),
        version=int(doc.get("version", 0)),
        subject=doc.get("subject"),
        order_id=doc.get("order_id"),
        csat=_csat(doc.get("csat")),
    )


def _csat(doc: Document | None) -> Csat | None:
    if not doc:
        return None
    return Csat(
        round=int(doc["round"]),
        requested_at=doc["requested_at"],
        rating=doc.get("rating"),
        comment=doc.get("comment"),
        rated_at=doc.get("rated_at"),
    )


def message_from_doc(doc: Document) -> Message:
    return Message(
        id=str(doc["_id"]),
        conversation_id=str(doc["conversation"]),
        seq=int(doc["seq"]),
        sender_id=doc["sender"],
        text=doc["text"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        client_message_id=doc.get("client_message_id"),
        attachments=tuple(
            Attachment(
                id=str(a["_id"]),
                filename=a["filename"],
                content_type=a["content_type"],
                size=int(a["size"]),
            )
            for a in doc.get("attachments") or ()
        ),
        edited=bool(doc.get("edited", False)),
    )


def reuses_client_id(exc: DuplicateKeyError | BulkWriteError) -> bool:
    """Whether a failed insert broke the idempotency index (a send repeating a client id)."""
    return _broke_index(exc, IDX_IDEMPOTENCY)


def reuses_seq(exc: DuplicateKeyError | BulkWriteError) -> bool:
    """Whether a failed insert took a seq already stored (its claim was planned from a stale
    state: another process stored messages meanwhile)."""
    return _broke_index(exc, IDX_HISTORY)


def _broke_index(exc: DuplicateKeyError | BulkWriteError, index: str) -> bool:
    if isinstance(exc, BulkWriteError):
        return any(
            error.get("code") == 11000 and index in str(error.get("errmsg", ""))
            for error in exc.details.get("writeErrors", [])
        )
    return index in str(exc)


def new_conversation_doc(conversation: Conversation, key: str) -> Document:
    """A new conversation's document; `key` is the pair's (`rules.pair_key`)."""
    return {
        "_id": oid(conversation.id),
        "participants": list(conversation.participants),
        "pair_key": key,
        "last_seq": 0,
        "last_message_id": None,
        "last_activity": oid(conversation.id),
        "reads": {},
        "read_at": {},
        "deleted_seqs": [],
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        # The desk's fields (adapters/desk_store.py).
        "status": conversation.status,
        "assignee": conversation.assignee_id,
        "team": oid(conversation.team_id) if conversation.team_id else None,
        "priority": None,
        "labels": [],
        "waiting_since": None,
        "version": conversation.version,
    }


def new_message_doc(
    conversation: ObjectId,
    seq: int,
    *,
    message_id: ObjectId,
    sender_id: str,
    text: str,
    attachments: Sequence[Attachment],
    client_message_id: str | None,
    now: datetime,
) -> Document:
    doc: Document = {
        "_id": message_id,
        "conversation": conversation,
        "seq": seq,
        "sender": sender_id,
        "text": text,
        "attachments": [
            {
                "_id": oid(a.id),
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in attachments
        ],
        "edited": False,
        "created_at": now,
        "updated_at": now,
    }
    if client_message_id is not None:
        doc["client_message_id"] = client_message_id
    return doc
