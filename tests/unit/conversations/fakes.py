"""In-memory fakes of the conversations service's ports
(workcity_conversations/service_layer/ports.py), for unit tests of the use cases in milliseconds.
They keep the ports' contracts (seqs from `domain.sends`, read positions that only move forward, a
pair's one conversation, idempotent client ids, the events of each write); the real adapters are
held to the same contracts by the integration tests against the database
(tests/integration/conversations/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bson import ObjectId
from workcity_common.events import Event
from workcity_common.tokens import TokenClaims
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import (
    Attachment,
    Conversation,
    Message,
    Person,
    StoredFile,
)
from workcity_conversations.domain.paging import ConversationPage, MessagePage
from workcity_conversations.domain.reads import (
    deleted_seq_matters,
    lowest_read_position,
    next_read_position,
)
from workcity_conversations.domain.sends import NewMessage, plan_sends
from workcity_conversations.service_layer.ports import (
    ConversationExists,
    DuplicateClientMessage,
    SendEvents,
)


class FakeConversationStore:
    """`ConversationRepository` in memory; `events` is the outbox (every committed write's)."""

    def __init__(self) -> None:
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self.pairs: dict[str, str] = {}  # pair key -> conversation id
        self.events: list[Event] = []
        # Set to make the next create lose the pair's race to this conversation (stored then).
        self.lose_create_race_to: Conversation | None = None
        # Set to make the next send lose its client id's race to this message (stored then).
        self.lose_send_race_to: Message | None = None

    # --- reads ------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return self.conversations.get(conversation_id)

    async def participants(
        self, conversation_id: str, *, fresh: bool = False
    ) -> tuple[str, ...] | None:
        found = self.conversations.get(conversation_id)
        return found.participants if found else None

    async def conversation_of_pair(self, key: str) -> Conversation | None:
        found = self.pairs.get(key)
        return self.conversations.get(found) if found else None

    async def conversations_of(
        self, user_id: str, page: ConversationPage
    ) -> tuple[list[Conversation], str | None]:
        mine = sorted(
            (c for c in self.conversations.values() if user_id in c.participants),
            key=activity_key,
            reverse=True,
        )
        if page.before is not None:
            mine = [c for c in mine if activity_key(c) < ObjectId(page.before)]
        items = mine[: page.limit]
        cursor = str(activity_key(items[-1])) if len(items) == page.limit else None
        return items, cursor

    async def message(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    async def messages_by_id(self, message_ids: Iterable[str]) -> dict[str, Message]:
        return {m: self.messages[m] for m in message_ids if m in self.messages}

    async def message_by_client_id(
        self, conversation_id: str, sender_id: str, client_message_id: str
    ) -> Message | None:
        return next(
            (
                m
                for m in self.messages.values()
                if (m.conversation_id, m.sender_id, m.client_message_id)
                == (conversation_id, sender_id, client_message_id)
            ),
            None,
        )

    async def history(
        self, conversation_id: str, page: MessagePage, last_seq: int | None = None
    ) -> list[Message]:
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m.conversation_id == conversation_id
                and (page.after_seq is None or m.seq > page.after_seq)
                and (page.before_seq is None or m.seq < page.before_seq)
            ),
            key=lambda m: m.seq,
        )
        return found[-page.limit :] if page.from_the_end else found[: page.limit]

    async def messages_of_others(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> list[Message]:
        found = [
            m
            for m in self.messages.values()
            if m.conversation_id == conversation_id and m.seq > after_seq and m.sender_id != user_id
        ]
        return sorted(found, key=lambda m: m.seq)[:limit]

    async def attachments_in_use(self, conversation_id: str, attachment_ids: set[str]) -> set[str]:
        carried = {
            a.id
            for m in self.messages.values()
            if m.conversation_id == conversation_id
            for a in m.attachments
        }
        return carried & attachment_ids

    # --- writes -----------------------------------------------------------------------------

    async def create_conversation(
        self,
        conversation: Conversation,
        key: str,
        events: Callable[[Conversation], Sequence[Event]],
    ) -> Conversation:
        if self.lose_create_race_to is not None:
            winner, self.lose_create_race_to = self.lose_create_race_to, None
            self._store_conversation(winner, key)
        if key in self.pairs:
            raise ConversationExists(key)
        self._store_conversation(conversation, key)
        self.events.extend(events(conversation))
        return conversation

    async def append_message(
        self,
        *,
        conversation_id: str,
        message_id: str,
        sender_id: str,
        text: str,
        client_message_id: str | None,
        now: datetime,
        events: SendEvents,
        attachments: Sequence[Attachment] = (),
        from_customer: bool = False,
    ) -> tuple[Conversation, Message]:
        if self.lose_send_race_to is not None:
            winner, self.lose_send_race_to = self.lose_send_race_to, None
            self.messages[winner.id] = winner
        state = self.conversations.get(conversation_id)
        if state is None:
            raise NotFound("Conversation not found")
        if client_message_id is not None and await self.message_by_client_id(
            conversation_id, sender_id, client_message_id
        ):
            raise DuplicateClientMessage(client_message_id)
        [sent] = plan_sends(state, [NewMessage(message_id, sender_id, now, from_customer)])
        message = Message(
            id=message_id,
            conversation_id=conversation_id,
            seq=sent.seq,
            sender_id=sender_id,
            text=text,
            created_at=now,
            updated_at=now,
            client_message_id=client_message_id,
            attachments=tuple(attachments),
        )
        self.conversations[conversation_id] = sent.after
        self.messages[message_id] = message
        self.events.extend(events(sent.after, message, sent.read_before))
        return sent.after, message

    async def edit_message(
        self,
        message_id: str,
        text: str,
        now: datetime,
        events: Callable[[Conversation, Message], Sequence[Event]],
    ) -> tuple[Conversation, Message]:
        message = self.messages.get(message_id)
        if message is None:
            raise NotFound("Message not found")
        edited = replace(message, text=text, edited=True, updated_at=now)
        self.messages[message_id] = edited
        conversation = self.conversations[message.conversation_id]
        self.events.extend(events(conversation, edited))
        return conversation, edited

    async def delete_message(
        self, message_id: str, events: Callable[[Conversation, Message], Sequence[Event]]
    ) -> Message:
        message = self.messages.pop(message_id, None)
        if message is None:
            raise NotFound("Message not found")
        conversation = self.conversations[message.conversation_id]
        after = conversation
        if deleted_seq_matters(message.seq, conversation.participants, conversation.reads):
            after = replace(after, deleted_seqs=(*after.deleted_seqs, message.seq))
        if conversation.last_message_id == message.id:
            earlier = [
                m
                for m in self.messages.values()
                if m.conversation_id == conversation.id and m.seq < message.seq
            ]
            last = max(earlier, key=lambda m: m.seq, default=None)
            after = replace(after, last_message_id=last.id if last else None)
        self.conversations[conversation.id] = after
        self.events.extend(events(conversation, message))
        return message

    async def mark_read(
        self,
        conversation_id: str,
        user_id: str,
        requested_seq: int | None,
        now: datetime,
        events: Callable[[Conversation, int, datetime], Sequence[Event]],
    ) -> tuple[int, datetime | None]:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound("Conversation not found")
        current = conversation.read_position(user_id)
        position = next_read_position(current, requested_seq, conversation.last_seq)
        if position == current:
            return current, conversation.read_at.get(user_id)
        reads = {**conversation.reads, user_id: position}
        lowest = lowest_read_position(conversation.participants, reads)
        self.conversations[conversation_id] = replace(
            conversation,
            reads=reads,
            read_at={**conversation.read_at, user_id: now},
            deleted_seqs=tuple(s for s in conversation.deleted_seqs if s > lowest),
        )
        self.events.extend(events(conversation, position, now))
        return position, now

    async def delete_conversation(
        self, conversation_id: str, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        conversation = self.conversations.pop(conversation_id, None)
        if conversation is None:
            raise NotFound("Conversation not found")
        self.pairs = {k: v for k, v in self.pairs.items() if v != conversation_id}
        self.messages = {
            k: m for k, m in self.messages.items() if m.conversation_id != conversation_id
        }
        self.events.extend(events(conversation))
        return conversation

    def _store_conversation(self, conversation: Conversation, key: str) -> None:
        self.conversations[conversation.id] = conversation
        self.pairs[key] = conversation.id


def oid() -> str:
    return str(ObjectId())


def activity_key(conversation: Conversation) -> ObjectId:
    """The store's `last_activity`: the latest message's id, else the conversation's."""
    return ObjectId(conversation.last_message_id or conversation.id)


class FakeDirectory:
    """`Directory` in memory."""

    def __init__(self, *people: Person) -> None:
        self.people = {p.id: p for p in people}
        # Known to auth but not yet copied here: `get` looks them up, `get_many` misses them.
        self.only_in_auth: dict[str, Person] = {}

    def add(self, person: Person) -> Person:
        self.people[person.id] = person
        return person

    async def get(self, user_id: str) -> Person | None:
        if user_id in self.only_in_auth:
            self.add(self.only_in_auth.pop(user_id))
        return self.people.get(user_id)

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, Person]:
        return {u: self.people[u] for u in set(user_ids) if u in self.people}

    async def ensure_from_claims(self, claims: TokenClaims) -> Person:
        if claims.user_id not in self.people:
            self.add(Person(id=claims.user_id, email=claims.email, role=claims.role))
        return self.people[claims.user_id]


@dataclass
class FakeFile:
    stored: StoredFile
    data: bytes = b""
    client_content_type: str | None = None
    attached: bool = False


@dataclass
class FakeUpload:
    files: FakeFileStore
    attachment_id: str
    conversation_id: str
    uploader_id: str
    filename: str
    client_content_type: str | None
    written: bytearray = field(default_factory=bytearray)
    aborted: bool = False

    async def write(self, data: bytes) -> None:
        self.written += data

    async def finish(self, content_type: str) -> None:
        meta = Attachment(self.attachment_id, self.filename, content_type, len(self.written))
        stored = StoredFile(meta, self.conversation_id, self.uploader_id, self.files.now)
        self.files.files[self.attachment_id] = FakeFile(
            stored, bytes(self.written), self.client_content_type
        )

    async def abort(self) -> None:
        self.aborted = True
        self.written.clear()


class FakeFileStore:
    """`FileStore` in memory; `now` is when the next upload finishes."""

    def __init__(self, now: datetime) -> None:
        self.files: dict[str, FakeFile] = {}
        self.uploads: list[FakeUpload] = []
        self.now = now

    def open_upload(
        self,
        attachment_id: str,
        *,
        conversation_id: str,
        uploader_id: str,
        filename: str,
        client_content_type: str | None,
    ) -> FakeUpload:
        upload = FakeUpload(
            self, attachment_id, conversation_id, uploader_id, filename, client_content_type
        )
        self.uploads.append(upload)
        return upload

    async def get(self, attachment_id: str) -> StoredFile | None:
        found = self.files.get(attachment_id)
        return found.stored if found else None

    async def of_conversation(
        self, conversation_id: str, attachment_ids: Iterable[str]
    ) -> dict[str, StoredFile]:
        return {
            a: self.files[a].stored
            for a in attachment_ids
            if a in self.files and self.files[a].stored.conversation_id == conversation_id
        }

    async def chunks_of(self, stored: StoredFile) -> AsyncIterator[bytes]:
        yield self.files[stored.meta.id].data

    async def mark_attached(self, attachment_ids: Iterable[str]) -> None:
        for a in attachment_ids:
            self.files[a].attached = True

    async def usage_of(self, uploader_id: str) -> int:
        return sum(
            f.stored.meta.size for f in self.files.values() if f.stored.uploader_id == uploader_id
        )

    async def delete(self, attachment_ids: Iterable[str]) -> int:
        gone = [a for a in attachment_ids if self.files.pop(a, None) is not None]
        return len(gone)

    async def delete_unattached(self, uploaded_before: datetime) -> int:
        stale = [
            a
            for a, f in self.files.items()
            if not f.attached
            and f.stored.uploaded_at is not None
            and f.stored.uploaded_at < uploaded_before
        ]
        return await self.delete(stale)

    async def delete_of_conversation(self, conversation_id: str) -> int:
        return await self.delete(
            [a for a, f in self.files.items() if f.stored.conversation_id == conversation_id]
        )
