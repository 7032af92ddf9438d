"""Satisfaction (CONTRACT Part 3): its customer rates a conversation staff resolved, once per
resolution. The rating is a desk change (`DeskChanges.change`, desk_ports.py): it bumps the version, tells the
staff (`conversationUpdated` with `changes: ["csat"]`) and writes its activity entry, all in one
transaction; of two ratings racing, one wins and the other meets `already_rated`."""

from __future__ import annotations

from typing import Any

from workcity_conversations.domain import csat
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_events import ChangeEvents
from workcity_conversations.service_layer.desk_ports import DeskChanges, Plan
from workcity_conversations.service_layer.desk_shared import conversation_or_404
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import conversation_data, now_ms


class CsatService:
    def __init__(
        self,
        store: DeskChanges,
        directory: Directory,
        conversations: ConversationService,
        comment_max_chars: int = 1000,
    ) -> None:
        self._store = store
        self._directory = directory
        self._conversations = conversations
        self.comment_max_chars = comment_max_chars

    async def rate(self, caller: Person, conversation_id: Any, body: dict[str, Any]) -> Any:
        conversation = await conversation_or_404(self._store, conversation_id)
        csat.require_its_customer(caller, conversation)
        value = csat.rating(body.get("rating"))
        note = csat.comment(body.get("comment"), self.comment_max_chars)
        now = now_ms()

        def decide(current: Conversation) -> Plan:
            return Plan(changes=["csat"], set=csat.answer(current.csat, value, note, now))

        events = ChangeEvents(self._store, self._directory, self._conversations, caller)
        _, after, _ = await self._store.change(conversation.id, decide, events, now)
        assert after.csat is not None
        data = conversation_data(after, {})
        return {"conversationId": after.id, **(data.csat.to_api() if data.csat else {})}
