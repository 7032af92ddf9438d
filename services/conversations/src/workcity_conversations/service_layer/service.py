"""What the conversations service does, one method per use case. Routes call these; these
validate input with the domain rules, call the store, and shape answers with the shared event
models' `to_api()`, so a REST answer and the socket payload for the same fact are identical."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from workcity_common.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationDeletedData,
    ConversationEventData,
    Event,
    MessageDeleted,
    MessageDeletedData,
    MessageEventData,
    MessageRead,
    MessageUpdated,
)
from workcity_common.tokens import TokenClaims

from workcity_conversations.domain import desk, desk_access, paging, rules
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Conversation, Message, Person
from workcity_conversations.service_layer.attachment_service import AttachmentService
from workcity_conversations.service_layer.limits import Limits
from workcity_conversations.service_layer.ports import (
    ConversationExists,
    ConversationRepository,
    Directory,
    DuplicateClientMessage,
    FileStore,
)
from workcity_conversations.service_layer.views import (
    PRODUCER,
    Opened,
    PreparedSend,
    Sent,
    conversation_data,
    list_item,
    message_data,
    now_ms,
    read_data,
    sent_events,
)

log = logging.getLogger(__name__)


class ConversationService:
    def __init__(
        self,
        store: ConversationRepository,
        directory: Directory,
        attachments: FileStore,
        limits: Limits | None = None,
        *,
        team_names: Callable[[Iterable[str]], Awaitable[dict[str, str]]] | None = None,
        default_team: Callable[[], Awaitable[str | None]] | None = None,
        teams_of: Callable[[str], Awaitable[set[str]]] | None = None,
        forget_desk_records: Callable[[str], Awaitable[None]] | None = None,
        message_sent: Callable[[Person, str, int, datetime], Awaitable[None]] | None = None,
    ) -> None:
        # The desk's, after a customer's message on a pending, snoozed or resolved conversation:
        # it reopens it.
        self._message_sent = message_sent
        # The desk's: a staff member's team ids (staff see their teams' conversations).
        self._teams_of = teams_of
        # The desk's: a deleted conversation's private notes and activity go with it.
        self._forget_desk_records = forget_desk_records
        self._default_team_of = default_team
        self._store = store
        # The names of teams by id (the desk's), for the `team` of conversations.
        self._team_names = team_names
        self._directory = directory
        self.limits = limits or Limits()
        # Uploads, downloads and the sweep; a send takes its files through it.
        self.files = AttachmentService(attachments, store.conversation, self.limits)

    # --- the caller ----------------------------------------------------------------------------

    async def caller(self, claims: TokenClaims) -> Person:
        """The signed-in user as the directory knows them (fresher than the token's role), never
        with more rights than the token states; a disabled user may do nothing here."""
        person = rules.bounded_by_token(
            await self._directory.ensure_from_claims(claims), claims.role
        )
        rules.require_active(person)
        return person

    # --- conversations -------------------------------------------------------------------------

    async def list_conversations(
        self, caller: Person, limit: str | None, before: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        page = paging.conversation_page(
            limit,
            before,
            default=self.limits.conversations_page_default,
            maximum=self.limits.conversations_page_max,
        )
        conversations, next_cursor = await self._store.conversations_of(caller.id, page)
        last_messages = await self._store.messages_by_id(
            c.last_message_id for c in conversations if c.last_message_id
        )
        people = await self._people(
            [p for c in conversations for p in c.participants],
            (m.sender_id for m in last_messages.values()),
            (c.assignee_id for c in conversations if c.assignee_id),
        )
        names = await self.team_names(c.team_id for c in conversations if c.team_id)
        items = [list_item(c, caller, people, last_messages, names) for c in conversations]
        return items, next_cursor

    async def open_conversation(self, caller: Person, recipient_id: Any) -> Opened:
        recipient_key = rules.parse_id(recipient_id, "recipient")
        recipient = await self._directory.get(recipient_key)
        if recipient is None:
            raise NotFound("Recipient not found", "recipient_not_found")
        rules.check_new_conversation(caller, recipient)
        key = rules.pair_key(caller.id, recipient.id)
        people = {caller.id: caller, recipient.id: recipient}
        existing = await self._store.conversation_of_pair(key)
        if existing is None:
            now = now_ms()
            # A customer's chat with a staff member is that staff member's, in the default team.
            staff = rules.desk_owner(caller, recipient)
            team_id = await self._default_team() if staff else None
            names = await self.team_names([team_id] if team_id else [])
            fresh = Conversation(
                id=str(ObjectId()),
                participants=(caller.id, recipient.id),
                last_seq=0,
                created_at=now,
                updated_at=now,
                assignee_id=staff.id if staff else None,
                team_id=team_id,
                version=1,
            )

            def events(conversation: Conversation) -> list[Event]:
                data = ConversationEventData(
                    conversation=conversation_data(conversation, people, names)
                )
                return [ConversationCreated(producer=PRODUCER, data=data)]

            try:
                created = await self._store.create_conversation(fresh, key, events)
                return Opened(list_item(created, caller, people, {}, names), created=True)
            except ConversationExists:
                existing = await self._store.conversation_of_pair(key)
                if existing is None:  # created and deleted in between: vanishingly rare
                    raise NotFound("Conversation not found") from None
        return Opened(await self._single_item(existing, caller), created=False)

    async def get_conversation(self, caller: Person, conversation_id: Any) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        await self._require_viewer(caller, conversation)
        return await self._single_item(conversation, caller)

    async def delete_conversation(self, caller: Person, conversation_id: Any) -> str:
        conversation = await self._conversation(conversation_id)
        rules.require_can_delete_conversation(caller, conversation)

        def events(deleted: Conversation) -> list[Event]:
            data = ConversationDeletedData(
                conversation_id=deleted.id, participant_ids=list(deleted.participants)
            )
            return [ConversationDeleted(producer=PRODUCER, data=data)]

        deleted = await self._store.delete_conversation(conversation.id, events)
        # After the commit: the files are unreachable from here on (their conversation is gone);
        # a crash in between leaves unreachable files, never a conversation without its files.
        await self.files.delete_of_conversation(deleted.id)
        if self._forget_desk_records is not None:
            await self._forget_desk_records(deleted.id)
        return deleted.id

    # --- messages ------------------------------------------------------------------------------

    async def history(
        self,
        caller: Person,
        conversation_id: Any,
        limit: str | None,
        after_seq: str | None,
        before_seq: str | None,
    ) -> list[dict[str, Any]]:
        conversation_key = rules.parse_id(conversation_id, "conversation")
        page = paging.message_page(
            limit,
            after_seq,
            before_seq,
            default=self.limits.messages_page_default,
            maximum=self.limits.messages_page_max,
        )
        conversation = await self._conversation(conversation_key)
        await self._require_viewer(caller, conversation)
        messages = await self._store.history(conversation.id, page, conversation.last_seq)
        people = await self._people(m.sender_id for m in messages)
        return [message_data(m, conversation, people).to_api() for m in messages]

    async def send(
        self,
        caller: Person,
        conversation_id: Any,
        text: Any,
        client_message_id: Any = None,
        attachments: Any = None,
    ) -> Sent:
        prepared = await self.prepare_send(
            caller, conversation_id, text, client_message_id, attachments
        )
        return prepared if isinstance(prepared, Sent) else await self.store_send(prepared)

    async def prepare_send(
        self,
        caller: Person,
        conversation_id: Any,
        text: Any,
        client_message_id: Any = None,
        attachments: Any = None,
    ) -> Sent | PreparedSend:
        """A send's checks and reads: refused, answered (a retry), or ready for `store_send`."""
        conversation_key = rules.parse_id(conversation_id, "conversation")
        attachment_ids = rules.attachment_ids(attachments, self.limits.max_attachments)
        # A message may be only attachments (a screenshot): then its text may be empty.
        clean_text = rules.message_text(
            text, self.limits.message_max_chars, allow_empty=bool(attachment_ids)
        )
        client_id = rules.client_message_id(
            client_message_id, self.limits.client_message_id_max_chars
        )
        # Only the participants are needed up front (remembered by the store: they never
        # change); the conversation's current state comes back from the write itself.
        participants = await self._store.participants(conversation_key)
        if participants is not None and caller.id not in participants:
            # Perhaps assigned to the caller since this process last looked.
            participants = await self._store.participants(conversation_key, fresh=True)
        if participants is None:
            raise NotFound("Conversation not found")
        rules.require_one_of(caller, participants)
        if client_id is not None:
            replay = await self._replay(caller, conversation_key, client_id)
            if replay is not None:
                return replay
        attached = await self.files.take(conversation_key, attachment_ids)
        people = await self._people(participants)
        return PreparedSend(caller, conversation_key, clean_text, client_id, attached, people)

    async def store_send(self, send: PreparedSend) -> Sent:
        """Store a prepared send. Nothing is awaited before the store queues it, so sends
        started one after the other are queued in that order (`send_batch.send_in_order`)."""
        caller, people, conversation_key = send.caller, send.people, send.conversation_id
        client_id = send.client_message_id

        def events(after: Conversation, message: Message, read_before: int) -> list[Event]:
            version = self.limits.message_created_version
            return sent_events(after, message, read_before, caller, people, version)

        try:
            after, message = await self._store.append_message(
                conversation_id=conversation_key,
                message_id=str(ObjectId()),
                sender_id=caller.id,
                text=send.text,
                attachments=send.attachments,
                client_message_id=client_id,
                now=now_ms(),
                events=events,
                from_customer=not caller.is_support,
            )
        except DuplicateClientMessage:
            # A concurrent retry stored it first; our transaction (and its seq) was rolled back.
            replay = await self._replay(caller, conversation_key, client_id or "")
            if replay is None:  # stored, then deleted before we could read it
                raise NotFound("Message not found") from None
            return replay
        # The send's own transaction moved `waitingSince`; only a customer's message on a
        # conversation set aside (pending, snoozed, resolved) has more to do: it reopens it. The
        # send's claim held on that status, so `after` tells it without a read.
        reopens = not caller.is_support and after.status in desk.REOPENED_BY_CUSTOMER
        if reopens and self._message_sent is not None:
            try:
                await self._message_sent(caller, conversation_key, message.seq, message.created_at)
            except Exception:
                # The message stands; the desk's state catches up with the next message.
                log.exception("the desk's update after a message failed")
        return Sent(message_data(message, after, people).to_api(), replayed=False)

    async def edit_message(self, caller: Person, message_id: Any, text: Any) -> dict[str, Any]:
        message = await self._message(message_id)
        clean_text = rules.message_text(text, self.limits.message_max_chars)
        rules.require_can_edit_message(caller, message)
        conversation = await self._conversation(message.conversation_id)
        people = await self._people(conversation.participants)

        def events(current: Conversation, edited: Message) -> list[Event]:
            data = MessageEventData(
                message=message_data(edited, current, people),
                participant_ids=list(current.participants),
            )
            return [MessageUpdated(producer=PRODUCER, data=data)]

        after, edited = await self._store.edit_message(message.id, clean_text, now_ms(), events)
        return message_data(edited, after, people).to_api()

    async def delete_message(self, caller: Person, message_id: Any) -> str:
        message = await self._message(message_id)
        rules.require_can_delete_message(caller, message)

        def events(conversation: Conversation, deleted: Message) -> list[Event]:
            data = MessageDeletedData(
                conversation_id=conversation.id,
                message_id=deleted.id,
                seq=deleted.seq,
                participant_ids=list(conversation.participants),
            )
            return [MessageDeleted(producer=PRODUCER, data=data)]

        deleted = await self._store.delete_message(message.id, events)
        if deleted.attachments:
            # Its files go with it (unless another message of the conversation carries them).
            ids = {a.id for a in deleted.attachments}
            in_use = await self._store.attachments_in_use(deleted.conversation_id, ids)
            await self.files.delete(ids - in_use)
        return deleted.id

    async def mark_read(self, caller: Person, conversation_id: Any, seq: Any) -> dict[str, Any]:
        conversation_key = rules.parse_id(conversation_id, "conversation")
        requested = rules.read_mark_seq(seq)
        conversation = await self._conversation(conversation_key)
        rules.require_participant(caller, conversation)

        def events(current: Conversation, position: int, read_at: datetime) -> list[Event]:
            return [
                MessageRead(producer=PRODUCER, data=read_data(current, caller, position, read_at))
            ]

        position, read_at = await self._store.mark_read(
            conversation.id, caller.id, requested, now_ms(), events
        )
        return read_data(
            conversation, caller, position, read_at or conversation.created_at
        ).to_api()

    # --- helpers -------------------------------------------------------------------------------

    async def _conversation(self, conversation_id: Any) -> Conversation:
        key = rules.parse_id(conversation_id, "conversation")
        conversation = await self._store.conversation(key)
        if conversation is None:
            raise NotFound("Conversation not found")
        return conversation

    async def _message(self, message_id: Any) -> Message:
        key = rules.parse_id(message_id, "message")
        message = await self._store.message(key)
        if message is None:
            raise NotFound("Message not found")
        return message

    async def _replay(self, caller: Person, conversation_id: str, client_id: str) -> Sent | None:
        stored = await self._store.message_by_client_id(conversation_id, caller.id, client_id)
        if stored is None:
            return None
        conversation = await self._conversation(conversation_id)
        people = await self._people(conversation.participants)
        return Sent(message_data(stored, conversation, people).to_api(), replayed=True)

    async def item(self, conversation: Conversation, caller: Person) -> dict[str, Any]:
        """A conversation in the list-item shape, for a caller already allowed to see it."""
        return await self._single_item(conversation, caller)

    async def _require_viewer(self, caller: Person, conversation: Conversation) -> None:
        """Participants and admins; with the desk, also staff of its team and its assignee."""
        if rules.can_view(caller, conversation):
            return
        if caller.is_support and self._teams_of is not None:
            desk_access.require_sees(caller, conversation, await self._teams_of(caller.id))
            return
        rules.require_viewer(caller, conversation)

    async def _default_team(self) -> str | None:
        return await self._default_team_of() if self._default_team_of else None

    async def team_names(self, team_ids: Iterable[str]) -> dict[str, str]:
        ids = set(team_ids)
        if not ids or self._team_names is None:
            return {}
        return await self._team_names(ids)

    async def _people(self, *groups: Iterable[str]) -> dict[str, Person]:
        return await self._directory.get_many(user_id for group in groups for user_id in group)

    async def _single_item(self, conversation: Conversation, caller: Person) -> dict[str, Any]:
        last = (
            await self._store.messages_by_id([conversation.last_message_id])
            if conversation.last_message_id
            else {}
        )
        people = await self._people(
            conversation.participants,
            (m.sender_id for m in last.values()),
            [conversation.assignee_id] if conversation.assignee_id else [],
        )
        names = await self.team_names([conversation.team_id] if conversation.team_id else [])
        return list_item(conversation, caller, people, last, names)
