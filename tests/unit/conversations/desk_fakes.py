"""In-memory fakes of the desk's ports (workcity_conversations/service_layer/desk_ports.py), over
the conversations of a `FakeConversationStore` (fakes.py): teams and agents, the desk's changes with
their capacity check and one-open-request rule, support requests and the inbox's views. The real
adapters are held to the same contracts against the database (tests/integration/conversations/,
tests/e2e/test_desk*.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from workcity_common.domain_errors import Conflict
from workcity_common.events import Event, NoteData
from workcity_conversations.domain import activity, desk_queue
from workcity_conversations.domain.activity import Entry
from workcity_conversations.domain.canned import Canned, scope_key
from workcity_conversations.domain.desk import Agent, Team
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Conversation, Csat, Person
from workcity_conversations.service_layer.desk_ports import (
    AlsoWrite,
    AtCapacity,
    DeskEvents,
    InboxPage,
    InboxQuery,
    OpenRequestExists,
    Plan,
    SupportRequest,
)

from tests.unit.conversations.fakes import FakeConversationStore, activity_key, oid


class FakeTeamStore:
    """`TeamStore` in memory; `users` stands for the directory's documents of staff."""

    def __init__(self, *staff: Person) -> None:
        self.teams: dict[str, Team] = {}
        self.agents: dict[str, Agent] = {}
        self.users = [
            {"_id": p.id, "email": p.email, "role": p.role, "disabled": p.disabled} for p in staff
        ]
        self.open: dict[str, int] = {}  # open conversations assigned, per agent
        self.presence_at: dict[str, datetime] = {}

    async def all_teams(self) -> list[Team]:
        return sorted(self.teams.values(), key=lambda t: t.id)

    async def team(self, team_id: str) -> Team | None:
        return self.teams.get(team_id)

    async def admin_ids(self) -> list[str]:
        return [u["_id"] for u in self.users if u["role"] == "admin"]

    async def team_ids_of(self, user_id: str) -> set[str]:
        return {t.id for t in self.teams.values() if user_id in t.members}

    async def create_team(self, name: str, auto_assign: bool, capacity: int) -> Team:
        self._name_free(name)
        team = Team(oid(), name, False, auto_assign, capacity, ())
        self.teams[team.id] = team
        return team

    async def update_team(self, team_id: str, fields: dict[str, Any]) -> Team:
        team = self.teams.get(team_id)
        if team is None:
            raise NotFound("Team not found", "team_not_found")
        if "name" in fields:
            self._name_free(fields["name"], but=team_id)
        changed = replace(team, **{**fields, "members": tuple(fields.get("members", team.members))})
        self.teams[team_id] = changed
        return changed

    async def staff(self) -> Sequence[Mapping[str, Any]]:
        return sorted(self.users, key=lambda u: u["_id"])

    async def agents_by_id(self, user_ids: Iterable[str]) -> dict[str, Agent]:
        return {u: self.agents.get(u, Agent(u)) for u in set(user_ids)}

    async def open_counts(self, user_ids: Iterable[str] | None = None) -> dict[str, int]:
        wanted = None if user_ids is None else set(user_ids)
        return {u: n for u, n in self.open.items() if wanted is None or u in wanted}

    async def set_agent(self, user_id: str, fields: dict[str, Any]) -> None:
        self.agents[user_id] = replace(self.agents.get(user_id, Agent(user_id)), **fields)

    async def record_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        agent = self.agents.get(user_id, Agent(user_id))
        if self.presence_at.get(user_id, at) > at:
            return False
        self.presence_at[user_id] = at
        self.agents[user_id] = replace(agent, online=online, last_seen=None if online else at)
        return True

    def _name_free(self, name: str, but: str | None = None) -> None:
        if any(t.name.lower() == name.lower() and t.id != but for t in self.teams.values()):
            raise Conflict("A team with this name exists", "team_exists")


# Plan.set's stored names -> the Conversation's fields (the desk's changes the fakes model).
_FIELD_OF = {
    "status": "status",
    "assignee": "assignee_id",
    "snoozed_until": "snoozed_until",
    "waiting_since": "waiting_since",
    "priority": "priority",
    "team": "team_id",
    "labels": "labels",
    "csat": "csat",
}
_SIDE_FIELDS = {"assigned_at", "open_key"}  # stored beside the conversation, not on it


class FakeNoteStore:
    """`NoteStore` in memory; `events` gets what `add` commits."""

    def __init__(self) -> None:
        self.notes: list[NoteData] = []
        self.events: list[Event] = []

    async def add(self, note: NoteData, events: Callable[[], Sequence[Event]]) -> None:
        self.notes.append(note)
        self.events.extend(events())

    async def insert(self, note: NoteData, handle: Any) -> None:
        self.notes.append(note)

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[NoteData]:
        found = sorted(
            (n for n in self.notes if n.conversation_id == conversation_id),
            key=lambda n: (n.created_at, n.id),
        )
        if after is not None:
            ids = [n.id for n in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        return [
            n.model_copy(update={"author": n.author.model_copy(update={"email": ""})})
            for n in found[:limit]
        ]


class FakeCannedResponses:
    """`CannedResponses` in memory."""

    def __init__(self) -> None:
        self.canned: dict[str, Canned] = {}

    async def count_in_scope(self, key: str) -> int:
        return sum(_key(c) == key for c in self.canned.values())

    async def create(self, canned: Canned) -> Canned:
        self._code_free(canned)
        self.canned[canned.id] = canned
        return canned

    async def get(self, canned_id: str) -> Canned | None:
        return self.canned.get(canned_id)

    async def update(
        self, canned_id: str, short_code: str | None, text: str | None, now: datetime
    ) -> Canned | None:
        current = self.canned.get(canned_id)
        if current is None:
            return None
        changed = replace(
            current,
            short_code=current.short_code if short_code is None else short_code,
            text=current.text if text is None else text,
            updated_at=now,
        )
        self._code_free(changed)
        self.canned[canned_id] = changed
        return changed

    async def delete(self, canned_id: str) -> None:
        self.canned.pop(canned_id, None)

    async def search(self, scope_keys: list[str], q: str | None, limit: int) -> list[Canned]:
        found = [
            c
            for c in self.canned.values()
            if _key(c) in scope_keys
            and (not q or q.lower() in c.short_code.lower() or q.lower() in c.text.lower())
        ]
        return sorted(found, key=lambda c: (c.short_code.lower(), c.id))[:limit]

    def _code_free(self, canned: Canned) -> None:
        if any(
            _key(c) == _key(canned)
            and c.short_code.lower() == canned.short_code.lower()
            and c.id != canned.id
            for c in self.canned.values()
        ):
            raise Conflict("This shortCode is taken in that scope", "short_code_taken")


def _key(canned: Canned) -> str:
    return scope_key(canned.scope, canned.author_id, canned.team_id)


class FakeActivityLog:
    """`ActivityLog` in memory: each conversation's (entry id, entry), in order."""

    def __init__(self) -> None:
        self.entries: dict[str, list[tuple[str, Entry]]] = {}

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[tuple[str, Entry]]:
        found = self.entries.get(conversation_id, [])
        if after is not None:
            ids = [entry_id for entry_id, _ in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        return found[:limit]


class FakeDeskStore(FakeTeamStore):
    """`DeskChanges` in memory, over the conversations of a `FakeConversationStore` (whose
    `events` list gets the desk's events too)."""

    def __init__(self, conversations: FakeConversationStore, *staff: Person) -> None:
        super().__init__(*staff)
        self.chats = conversations
        self.side: dict[str, dict[str, Any]] = {}  # conversation id -> open_key, customer, ...
        self.default_team_id: str | None = None  # else the first team
        self.activity = FakeActivityLog()  # written by each change, as the real store does

    async def open_counts(self, user_ids: Iterable[str] | None = None) -> dict[str, int]:
        wanted = None if user_ids is None else set(user_ids)
        counts: dict[str, int] = {}
        for c in self.chats.conversations.values():
            if c.status == "open" and c.assignee_id and (wanted is None or c.assignee_id in wanted):
                counts[c.assignee_id] = counts.get(c.assignee_id, 0) + 1
        return counts

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return self.chats.conversations.get(conversation_id)

    async def open_request(self, open_key: str) -> Conversation | None:
        for conversation_id, side in self.side.items():
            if side.get("open_key") == open_key:
                return self.chats.conversations.get(conversation_id)
        return None

    async def customer_of(self, conversation_id: str) -> str | None:
        return self.side.get(conversation_id, {}).get("customer")

    async def change(
        self,
        conversation_id: str,
        decide: Callable[[Conversation], Plan | None],
        events: DeskEvents,
        now: datetime,
        also: AlsoWrite | None = None,
    ) -> tuple[Conversation, Conversation, Plan | None]:
        before = self.chats.conversations.get(conversation_id)
        if before is None:
            raise NotFound("Conversation not found")
        plan = decide(before)
        if plan is None:
            self.chats.events.extend(await also(None, before) if also else [])
            return before, before, None
        if plan.claim is not None:
            agent_id, limit = plan.claim
            await self.set_agent(agent_id, {"last_assigned_at": now})
            if limit is not None and (await self.open_counts([agent_id])).get(agent_id, 0) >= limit:
                raise AtCapacity
        side = self.side.setdefault(conversation_id, {})
        key = plan.set.get("open_key")
        if key is not None and await self.open_request(key) not in (None, before):
            raise OpenRequestExists
        changed: dict[str, Any] = {"version": before.version + 1}
        for name, value in plan.set.items():
            if name in _SIDE_FIELDS:
                side[name] = value
            elif name == "csat":
                changed["csat"] = Csat(**value) if value else None
            elif name.startswith("csat."):  # a rating: fields of the stored survey
                asked = changed.get("csat", before.csat)
                changed["csat"] = replace(asked, **{name.removeprefix("csat."): value})
            else:
                changed[_FIELD_OF[name]] = value  # a KeyError: a field the fake does not model
        for name in plan.unset:
            side.pop(name, None)
        if plan.add_participant:
            changed["participants"] = (*before.participants, plan.add_participant)
        after = replace(before, **changed)
        self.chats.conversations[conversation_id] = after
        written = activity.entries(before, after, events.activity_actor, now)
        self.activity.entries.setdefault(conversation_id, []).extend((oid(), e) for e in written)
        self.chats.events.extend(await events(before, after, plan))
        self.chats.events.extend(await also(None, after) if also else [])
        return before, after, plan

    async def due_snoozes(self, now: datetime, limit: int) -> list[Conversation]:
        due = [
            c
            for c in self.chats.conversations.values()
            if c.status == "snoozed" and c.snoozed_until is not None and c.snoozed_until <= now
        ]
        return due[:limit]

    async def next_in_queue(self, team_id: str) -> Conversation | None:
        queued = [
            c
            for c in self.chats.conversations.values()
            if c.team_id == team_id and c.status == "open" and c.assignee_id is None
        ]
        queued.sort(key=_queue_key)
        return queued[0] if queued else None

    async def default_team(self) -> Team:
        return self.teams[self.default_team_id or min(self.teams)]

    async def open_support(
        self, request: SupportRequest, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        if await self.open_request(request.open_key) is not None:
            raise OpenRequestExists
        conversation = Conversation(
            oid(),
            (request.customer_id,),
            0,
            request.now,
            request.now,
            team_id=request.team_id,
            waiting_since=request.now,
            version=1,
            subject=request.subject,
            order_id=request.order_id,
        )
        self.chats.conversations[conversation.id] = conversation
        self.side[conversation.id] = {
            "customer": request.customer_id,
            "open_key": request.open_key,
        }
        self.chats.events.extend(events(conversation))
        return conversation

    async def inbox(self, query: InboxQuery) -> InboxPage:
        views = {
            name: [c for c in self.chats.conversations.values() if _in_view(name, query, c)]
            for name in ("mine", "unassigned", "team", "all")
        }
        page = views[query.view]
        if query.view == "unassigned":
            page.sort(key=_queue_key)
            after = desk_queue.parse_cursor(query.cursor)
            if after is not None:
                mark = (-after[0], after[1] or _NO_WAIT, after[2])
                page = [c for c in page if _queue_key(c) > mark]
        else:
            page.sort(key=activity_key, reverse=True)
            if query.cursor:
                page = [c for c in page if activity_key(c) < ObjectId(query.cursor)]
        page = page[: query.limit]
        next_cursor = None
        if page and len(page) == query.limit:
            last = page[-1]
            next_cursor = (
                desk_queue.cursor_of(last)
                if query.view == "unassigned"
                else str(activity_key(last))
            )
        counts = {name: len(views[name]) for name in ("mine", "unassigned", "team")}
        return InboxPage(page, counts, next_cursor)


_NO_WAIT = datetime.min.replace(tzinfo=UTC)  # MongoDB sorts a null first


def _queue_key(c: Conversation) -> tuple[int, datetime, str]:
    return (-desk_queue.rank(c.priority), c.waiting_since or _NO_WAIT, c.id)


def _in_view(view: str, query: InboxQuery, c: Conversation) -> bool:
    if c.status != query.status:
        return False
    if view == "mine":
        return c.assignee_id == query.caller_id and query.team_id in (None, c.team_id)
    if view == "all":
        return query.team_id in (None, c.team_id)
    in_teams = c.team_id in query.team_ids
    return in_teams and (view == "team" or c.assignee_id is None)
