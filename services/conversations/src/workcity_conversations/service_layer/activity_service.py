"""A conversation's activity (CONTRACT Part 3), for staff who may see it: every desk change after
its creation, in the order of the changes, each `{_id, type, from, to, actor, at, text}`; `text`
is the system line a client shows, rendered here from the entry."""

from __future__ import annotations

from typing import Any

from workcity_common.events import iso

from workcity_conversations.domain import activity, desk_access, paging, rules
from workcity_conversations.domain.activity import Entry
from workcity_conversations.domain.model import Person
from workcity_conversations.service_layer.desk_ports import ActivityLog, DeskChanges
from workcity_conversations.service_layer.desk_shared import conversation_or_404
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.service import ConversationService


class ActivityService:
    def __init__(
        self,
        store: DeskChanges,
        entries: ActivityLog,
        directory: Directory,
        conversations: ConversationService,
        page_default: int = 200,
        page_max: int = 500,
    ) -> None:
        self._store = store
        self._entries = entries
        self._directory = directory
        self._conversations = conversations
        self._page = (page_default, page_max)

    async def list(
        self, caller: Person, conversation_id: Any, limit: str | None, after: str | None
    ) -> list[dict[str, Any]]:
        conversation = await conversation_or_404(self._store, conversation_id)
        desk_access.require_staff_sees(
            caller, conversation, await self._store.team_ids_of(caller.id)
        )
        size = paging.page_limit(limit, *self._page)
        mark = rules.parse_id(after, "after") if after is not None else None
        found = await self._entries.of_conversation(conversation.id, size, mark)
        entries = [e for _, e in found]
        user_ids = {e.actor_id for e in entries if e.actor_id}
        user_ids |= {v for e in entries if e.kind == "assignee" for v in (e.before, e.after) if v}
        people = await self._directory.get_many(user_ids)
        emails = {p.id: p.email for p in people.values()}
        team_ids = {v for e in entries if e.kind == "team" for v in (e.before, e.after) if v}
        names = await self._conversations.team_names(team_ids)
        return [self._api(entry_id, e, emails, names) for entry_id, e in found]

    @staticmethod
    def _api(
        entry_id: str, entry: Entry, emails: dict[str, str], names: dict[str, str]
    ) -> dict[str, Any]:
        kind, before, after, actor = entry.kind, entry.before, entry.after, entry.actor_id

        def shown(value: Any) -> Any:
            if value is None:
                return None
            if kind == "assignee":
                return {"_id": value, "email": emails.get(value, "")}
            if kind == "team":
                return {"_id": value, "name": names.get(value, "")}
            return value

        return {
            "_id": entry_id,
            "type": kind,
            "from": shown(before),
            "to": shown(after),
            "actor": {"_id": actor, "email": emails.get(actor, "")} if actor else None,
            "at": iso(entry.at),
            "text": activity.render(
                kind, before, after, emails.get(actor) if actor else None, emails, names
            ),
        }
