"""What the desk's use cases need from the outside world, as Protocols (the conversations'
own are in ports.py): the teams and agents (`TeamStore`, adapters/teams_store.py), the desk's
changes of conversations (`DeskChanges`) and its support requests and inbox (`SupportDeskStore`,
both adapters/desk_store.py). The unit tests' in-memory
fakes (tests/unit/conversations/fakes.py) satisfy them too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from workcity_common.events import Event, NoteData

from workcity_conversations.domain.activity import Entry
from workcity_conversations.domain.canned import Canned
from workcity_conversations.domain.desk import Agent, Team
from workcity_conversations.domain.errors import Conflict
from workcity_conversations.domain.model import Conversation


class AtCapacity(Conflict):
    default_code = "at_capacity"
    default_msg = "The agent is at capacity"


class OpenRequestExists(Exception):
    """The customer has an unresolved support request in that team already (one per customer
    and team, also when two race)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a desk change writes. `claim`: (agent id, capacity or None for no limit) when the
    change gives an agent one more open conversation."""

    changes: list[str]
    set: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    add_participant: str | None = None
    claim: tuple[str, int | None] | None = None


# More writes in a desk change's transaction (the first argument: the adapter's handle of it),
# given the conversation after the change; their events. A transfer's note is one.
AlsoWrite = Callable[[Any, Conversation], Awaitable[Sequence[Event]]]


@dataclass(frozen=True, slots=True)
class SupportRequest:
    """A customer's new support conversation in a team (POST /api/support)."""

    customer_id: str
    team_id: str
    subject: str | None
    order_id: str | None
    now: datetime

    @property
    def open_key(self) -> str:
        """One unresolved request per customer and team."""
        return f"{self.customer_id}:{self.team_id}"


@dataclass(frozen=True, slots=True)
class InboxQuery:
    """A page of a staff member's inbox. `view`: mine, unassigned, team or all; `team_ids`: the
    teams the unassigned and team views span; `team_id`: the one team it is narrowed to, if
    any; `cursor`: checked already (desk_queue's for the unassigned view, else an id)."""

    view: str
    caller_id: str
    team_ids: Sequence[str]
    team_id: str | None
    status: str
    limit: int
    cursor: str | None


@dataclass(frozen=True, slots=True)
class InboxPage:
    """The page, the counts of the mine, unassigned and team views (from the same snapshot),
    and the cursor of the next page (None: this one is not full)."""

    items: list[Conversation]
    counts: dict[str, int]
    next_cursor: str | None


class DeskEvents(Protocol):
    """The events of a desk change, from the conversation before and after it; and whom its
    activity entries credit (`activity_actor`, None: the system)."""

    activity_actor: str | None

    def __call__(
        self, before: Conversation, after: Conversation, plan: Plan, /
    ) -> Awaitable[Sequence[Event]]: ...


class ActivityLog(Protocol):
    """A conversation's activity entries, written by its desk changes (adapters/activity_store.py)."""

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[tuple[str, Entry]]:
        """(entry id, entry) in the order of its changes; `after`: an entry id, the page after it
        (one of another conversation, or unknown: an empty page)."""
        ...


class NoteStore(Protocol):
    """Private notes (adapters/notes_store.py), in a store no customer path reads."""

    async def add(self, note: NoteData, events: Callable[[], Sequence[Event]]) -> None:
        """A note and its events, in one transaction."""
        ...

    async def insert(self, note: NoteData, handle: Any) -> None:
        """A note within a desk change's transaction (`handle`: as `AlsoWrite` gets it)."""
        ...

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[NoteData]:
        """Oldest first, each author by id only (`email` empty); `after`: a note id, the page
        after it (one of another conversation, or unknown: an empty page)."""
        ...


class CannedResponses(Protocol):
    """Canned responses (adapters/canned_store.py). A short code is unique, case aside, in its
    scope (`canned.scope_key`): a create or an update that breaks it raises 409
    `short_code_taken`."""

    async def count_in_scope(self, scope_key: str) -> int: ...

    async def create(self, canned: Canned) -> Canned: ...

    async def get(self, canned_id: str) -> Canned | None: ...

    async def update(
        self, canned_id: str, short_code: str | None, text: str | None, now: datetime
    ) -> Canned | None:
        """The fields not None change; None: it is gone."""
        ...

    async def delete(self, canned_id: str) -> None: ...

    async def search(self, scope_keys: list[str], q: str | None, limit: int) -> list[Canned]:
        """Those in the scopes whose short code or text holds `q` (any case), by short code."""
        ...


class TeamStore(Protocol):
    """The desk's teams and agents (adapters/teams_store.py)."""

    async def all_teams(self) -> list[Team]: ...

    async def team(self, team_id: str) -> Team | None: ...

    async def admin_ids(self) -> list[str]: ...

    async def team_ids_of(self, user_id: str) -> set[str]: ...

    async def create_team(self, name: str, auto_assign: bool, capacity: int) -> Team:
        """Raises 409 `team_exists` when the name (case aside) is taken."""
        ...

    async def update_team(self, team_id: str, fields: dict[str, Any]) -> Team:
        """`fields` by the store's names; raises 404 `team_not_found`, 409 `team_exists`."""
        ...

    async def staff(self) -> Sequence[Mapping[str, Any]]:
        """The directory's staff users (`_id`, `email`, `role`, `disabled`), in id order."""
        ...

    async def agents_by_id(self, user_ids: Iterable[str]) -> dict[str, Agent]:
        """Every id, as an agent with the defaults when none is stored."""
        ...

    async def open_counts(self, user_ids: Iterable[str] | None = None) -> dict[str, int]: ...

    async def set_agent(self, user_id: str, fields: dict[str, Any]) -> None: ...

    async def record_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        """Applied unless a newer fact is stored; True if applied."""
        ...


class DeskChanges(TeamStore, Protocol):
    """The desk's changes of conversations, each one transaction with its events."""

    async def conversation(self, conversation_id: str) -> Conversation | None: ...

    async def open_request(self, open_key: str) -> Conversation | None:
        """The customer's unresolved request in a team (`open_key`: customer id:team id)."""
        ...

    async def customer_of(self, conversation_id: str) -> str | None:
        """Who opened a support request (None: a direct chat)."""
        ...

    async def change(
        self,
        conversation_id: str,
        decide: Callable[[Conversation], Plan | None],
        events: DeskEvents,
        now: datetime,
    ) -> tuple[Conversation, Conversation, Plan | None]:
        """(before, after, plan): `decide` sees the stored conversation; None writes nothing.
        Raises `NotFound`, `AtCapacity` (the plan's claim is over the agent's limit),
        `OpenRequestExists` (the plan sets an `open_key` another request holds), `Conflict`."""
        ...

    async def due_snoozes(self, now: datetime, limit: int) -> list[Conversation]: ...

    async def next_in_queue(self, team_id: str) -> Conversation | None:
        """The team's unassigned open conversation to hand out first (desk_queue's order)."""
        ...


class SupportDeskStore(DeskChanges, Protocol):
    """What the desk's conversation use cases (desk_service.py) need: the desk's changes, with a
    write of their own in the same transaction, support requests and the inbox."""

    async def default_team(self) -> Team: ...

    async def change(
        self,
        conversation_id: str,
        decide: Callable[[Conversation], Plan | None],
        events: DeskEvents,
        now: datetime,
        also: AlsoWrite | None = None,
    ) -> tuple[Conversation, Conversation, Plan | None]:
        """As `DeskChanges.change`; `also` writes in its transaction, changed or not."""
        ...

    async def open_support(
        self, request: SupportRequest, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        """The new conversation, with its events; `OpenRequestExists` when the customer's
        unresolved request in that team exists already."""
        ...

    async def inbox(self, query: InboxQuery) -> InboxPage: ...
