"""conversation.* events (producer: conversations) and the references they share with messages.

Payloads are snake_case; `to_api()` gives the contract's JSON shape, so the REST answers of the
conversations service and the socket emits of the realtime service are the same by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from workcity_common.events.envelope import Event, EventData, Role, iso


class UserRef(EventData):
    id: str
    email: str
    role: Role | None = None
    name: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_id": self.id, "email": self.email}
        if self.role is not None:
            out["role"] = self.role
        if self.name is not None:
            out["name"] = self.name
        return out


class TeamRef(EventData):
    id: str
    name: str

    def to_api(self) -> dict[str, Any]:
        return {"_id": self.id, "name": self.name}


class CsatData(EventData):
    """The satisfaction survey of the conversation's latest resolution by staff."""

    requested_at: datetime
    rating: int | None = None
    comment: str | None = None
    rated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "requestedAt": iso(self.requested_at),
            "rating": self.rating,
            "comment": self.comment,
            "ratedAt": iso(self.rated_at) if self.rated_at else None,
        }


class ConversationData(EventData):
    id: str
    participants: list[UserRef]
    last_seq: int = 0
    created_at: datetime
    updated_at: datetime
    # The support desk's state of the conversation (CONTRACT Part 3).
    status: str = "open"
    assignee: UserRef | None = None
    team: TeamRef | None = None
    priority: str | None = None
    labels: list[str] = []
    waiting_since: datetime | None = None
    snoozed_until: datetime | None = None
    version: int = 0
    # Given by the customer in POST /api/support; shown to both sides.
    subject: str | None = None
    order_id: str | None = None
    csat: CsatData | None = None

    @property
    def participant_ids(self) -> list[str]:
        return [p.id for p in self.participants]

    def to_api(self) -> dict[str, Any]:
        """The staff view: everything."""
        return {
            **self.customer_api(),
            "team": self.team.to_api() if self.team else None,
            "priority": self.priority,
            "labels": list(self.labels),
            "waitingSince": iso(self.waiting_since) if self.waiting_since else None,
            "snoozedUntil": iso(self.snoozed_until) if self.snoozed_until else None,
            "version": self.version,
        }

    def customer_api(self) -> dict[str, Any]:
        """The customer's view: of the desk state, only `status` and `assignee`."""
        return {
            "_id": self.id,
            "participants": [p.to_api() for p in self.participants],
            "lastSeq": self.last_seq,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "status": self.status,
            "assignee": (
                {"_id": self.assignee.id, "email": self.assignee.email} if self.assignee else None
            ),
            # The customer's own words, so both views carry them.
            "subject": self.subject,
            "orderId": self.order_id,
            # The customer's own rating of the latest resolution (null: never asked).
            "csat": self.csat.to_api() if self.csat else None,
        }


class ConversationEventData(EventData):
    conversation: ConversationData


class ConversationCreated(Event):
    type: Literal["conversation.created"] = "conversation.created"
    data: ConversationEventData


class ConversationUpdatedData(EventData):
    """A desk change (status, assignee, team, priority, labels) and who is to hear of it. The
    audiences are worked out by the producer, which owns teams and roles."""

    conversation: ConversationData
    changes: list[str]
    actor: UserRef | None = None  # None: the system (auto-assignment, a snooze ending)
    staff_ids: list[str]  # every staff user who may see the conversation
    customer_ids: list[str] = []  # told (customer view) when status or assignee changed
    queued_for: list[str] = []  # the team's members, when it entered their queue unassigned
    assigned_from: str | None = None
    assigned_to: str | None = None


class ConversationUpdated(Event):
    type: Literal["conversation.updated"] = "conversation.updated"
    data: ConversationUpdatedData


class ConversationDeletedData(EventData):
    conversation_id: str
    participant_ids: list[str]


class ConversationDeleted(Event):
    type: Literal["conversation.deleted"] = "conversation.deleted"
    data: ConversationDeletedData
