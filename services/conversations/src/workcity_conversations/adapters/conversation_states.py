"""What this process knows of conversations: the state as of its last read or write of each, for
the send path (participants only grow, and a send's claim holds only on the state it was planned
from, so a stale entry costs a retry, never a wrong write)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from workcity_common.database import Document

from workcity_conversations.adapters.conversation_docs import conversation_from_doc, oid
from workcity_conversations.domain.model import Conversation

# The state of this many conversations is remembered (least recently used ones are dropped).
STATE_CACHE_SIZE = 50_000


class ConversationStates:
    def __init__(self, conversations: AsyncCollection[Document]) -> None:
        self._conversations = conversations
        # conversation id -> its state as of this process's last read or write of it
        self._known: OrderedDict[str, Conversation] = OrderedDict()

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self._conversations

    @property
    def known(self) -> Mapping[str, Conversation]:
        return self._known

    def get(self, conversation_id: str) -> Conversation | None:
        return self._known.get(conversation_id)

    def remember(self, conversation: Conversation) -> None:
        self._known[conversation.id] = conversation
        self._known.move_to_end(conversation.id)
        while len(self._known) > STATE_CACHE_SIZE:
            self._known.popitem(last=False)

    def forget(self, conversation_id: str) -> None:
        self._known.pop(conversation_id, None)

    async def load(self, conversation_ids: Sequence[str]) -> None:
        """Read the current state of conversations (one request) and remember it."""
        if not conversation_ids:
            return
        for conversation_id in conversation_ids:
            self.forget(conversation_id)
        for conversation in (await self.read(conversation_ids)).values():
            self.remember(conversation)

    async def read(
        self, conversation_ids: Iterable[str], session: AsyncClientSession | None = None
    ) -> dict[str, Conversation]:
        """The current state of these conversations (absent: no such conversation)."""
        ids = [oid(c) for c in dict.fromkeys(conversation_ids)]
        docs = self._conversations.find({"_id": {"$in": ids}}, session=session)
        return {str(d["_id"]): conversation_from_doc(d) async for d in docs}
