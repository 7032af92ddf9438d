"""In-memory fakes of the notifications service's ports (workcity_notifications/service_layer/
ports.py), for unit tests of the use cases in milliseconds. The wake-up store keeps the real one's
contract (the earliest due time wins, claims lease one wake-up at a time, writes after a claim need
its token, `finish` goes idle unless a later message asked for a wake-up); the real adapters are
held to it by tests/integration/notifications/ against the database and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from workcity_common.events import UserRef
from workcity_notifications.domain.batch import Wake
from workcity_notifications.domain.email import Email
from workcity_notifications.domain.model import Claimed, Outgoing, Unread
from workcity_notifications.domain.rules import PendingMessage, Recipient

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IDLE = datetime(3000, 1, 1, tzinfo=UTC)


@dataclass
class WakeUp:
    conversation_id: str
    recipient_id: str
    due_at: datetime
    seen_seq: int
    done_seq: int
    claimed_until: datetime = EPOCH
    claim: str | None = None
    attempts: int = 0
    outgoing: Outgoing | None = None


class FakeWakeupStore:
    """`WakeupStore` in memory; `wakeups` and `sent` are open to the tests."""

    def __init__(self) -> None:
        self.wakeups: dict[str, WakeUp] = {}
        self.sent: dict[str, datetime] = {}
        self.schedule_calls = 0

    async def schedule(self, wakes: Mapping[str, Wake]) -> dict[str, datetime]:
        if not wakes:
            return {}
        self.schedule_calls += 1
        for key, wake in wakes.items():
            doc = self.wakeups.setdefault(
                key,
                WakeUp(wake.conversation_id, wake.recipient_id, IDLE, 0, wake.first_seq - 1),
            )
            doc.due_at = min(doc.due_at, wake.due_at)
            doc.seen_seq = max(doc.seen_seq, wake.last_seq)
        return {key: self.wakeups[key].due_at for key in wakes}

    async def due_keys(self, now: datetime, due_by: datetime, limit: int) -> list[str]:
        due = sorted(
            (doc.due_at, key)
            for key, doc in self.wakeups.items()
            if doc.due_at <= due_by and doc.claimed_until <= now
        )
        return [key for _, key in due[:limit]]

    async def claim(
        self, key: str, now: datetime, lease: timedelta, *, due_by: datetime
    ) -> Claimed | None:
        doc = self.wakeups.get(key)
        if doc is None or doc.due_at > due_by or doc.claimed_until > now:
            return None
        doc.claimed_until, doc.claim = now + lease, uuid.uuid4().hex
        return Claimed(
            key,
            doc.conversation_id,
            doc.recipient_id,
            doc.due_at,
            doc.done_seq,
            doc.attempts,
            doc.claim,
            doc.outgoing,
            doc.seen_seq,
        )

    def _held(self, claimed: Claimed) -> WakeUp | None:
        doc = self.wakeups.get(claimed.key)
        return doc if doc is not None and doc.claim == claimed.token else None

    async def last_sent_at(self, key: str) -> datetime | None:
        return self.sent.get(key)

    async def intend(self, claimed: Claimed, outgoing: Outgoing) -> bool:
        doc = self._held(claimed)
        if doc is not None:
            doc.outgoing = outgoing
        return doc is not None

    async def record_sent(self, claimed: Claimed, at: datetime) -> None:
        self.sent[claimed.key] = at

    async def finish(self, claimed: Claimed, covered_seq: int, next_due: datetime) -> None:
        doc = self._held(claimed)
        if doc is None:
            return
        doc.done_seq, doc.outgoing = max(doc.done_seq, covered_seq), None
        self._release(doc, IDLE if doc.seen_seq <= covered_seq else next_due, 0)

    async def postpone(self, claimed: Claimed, retry_at: datetime, attempts: int) -> None:
        doc = self._held(claimed)
        if doc is not None:
            self._release(doc, retry_at, attempts)

    @staticmethod
    def _release(doc: WakeUp, due_at: datetime, attempts: int) -> None:
        doc.due_at, doc.claimed_until, doc.claim, doc.attempts = due_at, EPOCH, None, attempts


@dataclass
class FakeDirectory:
    """`UserDirectory` in memory: users by id, presence by id (the latest `at` wins)."""

    users: dict[str, Recipient] = field(default_factory=dict)
    presence: dict[str, tuple[bool, datetime]] = field(default_factory=dict)

    async def learn_senders(self, senders: Iterable[UserRef]) -> None:
        for sender in senders:
            self.users.setdefault(sender.id, Recipient(sender.id, sender.email))

    async def recipient(self, user_id: str) -> Recipient | None:
        return self.users.get(user_id)

    async def apply_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        known = self.presence.get(user_id)
        if known is not None and known[1] > at:
            return False
        self.presence[user_id] = (online, at)
        return True

    async def presence_of(self, user_id: str) -> tuple[bool | None, datetime | None]:
        return self.presence.get(user_id, (None, None))


@dataclass
class FakeMessages:
    """`MessageSource` in memory: the conversations service's messages (with their senders) and
    read positions; `down` makes it fail as an unreachable service does."""

    messages: dict[str, list[tuple[str, PendingMessage]]] = field(default_factory=dict)
    read: dict[tuple[str, str], int] = field(default_factory=dict)
    down: bool = False
    asked: int = 0  # unread questions answered

    def add(self, conversation_id: str, sender_id: str, text: str, at: datetime) -> int:
        chat = self.messages.setdefault(conversation_id, [])
        seq = len(chat) + 1
        chat.append(
            (
                sender_id,
                PendingMessage(f"{conversation_id}-{seq}", seq, f"{sender_id}@x.test", text, at),
            )
        )
        return seq

    async def unread(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> Unread | None:
        if self.down:
            raise ConnectionError("conversations service unreachable")
        self.asked += 1
        chat = self.messages.get(conversation_id)
        if chat is None:
            return None
        after = max(after_seq, self.read.get((conversation_id, user_id), 0))
        unread = [m for sender, m in chat if sender != user_id and m.seq > after]
        return Unread(last_seq=len(chat), count=len(unread), messages=unread[:limit])


@dataclass
class FakeMailer:
    """`MailSender` that keeps what it was given; fails the next `failures` sends; `cut_off`:
    the next send never returns (the process dies while SMTP has the email)."""

    sent: list[Email] = field(default_factory=list)
    failures: int = 0
    cut_off: bool = False

    async def send(self, email: Email) -> None:
        if self.cut_off:
            self.cut_off = False
            raise asyncio.CancelledError
        if self.failures:
            self.failures -= 1
            raise OSError("SMTP server unreachable")
        self.sent.append(replace(email))
