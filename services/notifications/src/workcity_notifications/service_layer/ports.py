"""What the notifications use cases need from the outside world, as Protocols: the service layer
(notifier.py) depends on these, the adapters satisfy them (adapters/store.py, directory.py,
conversations.py, smtp.py; mypy checks it where main.py wires them), and the unit tests' in-memory
fakes do too (tests/unit/notifications/fakes.py), so every use case is tested without a database,
a broker or an SMTP server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from workcity_common.events import UserRef

from workcity_notifications.domain.batch import Wake
from workcity_notifications.domain.email import Email
from workcity_notifications.domain.model import Claimed, Outgoing, Unread
from workcity_notifications.domain.rules import Recipient


class WakeupStore(Protocol):
    """The pending emails' wake-ups (one per conversation and recipient) and the sent log. Every
    write after a claim applies only while that claim (`Claimed.token`) still holds."""

    async def schedule(self, wakes: Mapping[str, Wake]) -> dict[str, datetime]:
        """The earliest due time wins; returns each pair's due time now stored."""
        ...

    async def due_keys(self, now: datetime, due_by: datetime, limit: int) -> list[str]:
        """Up to `limit` wake-ups due by `due_by` that no live claim holds, earliest first."""
        ...

    async def claim(
        self, key: str, now: datetime, lease: timedelta, *, due_by: datetime
    ) -> Claimed | None:
        """This wake-up for `lease`, if it is still due by `due_by` and no live claim holds it."""
        ...

    async def last_sent_at(self, key: str) -> datetime | None: ...

    async def intend(self, claimed: Claimed, outgoing: Outgoing) -> bool:
        """Record the email before SMTP sees it; False if the claim was lost meanwhile."""
        ...

    async def record_sent(self, claimed: Claimed, at: datetime) -> None: ...

    async def finish(self, claimed: Claimed, covered_seq: int, next_due: datetime) -> None:
        """Messages up to `covered_seq` are handled: idle, or due at `next_due` if a later one
        asked for a wake-up meanwhile; the recorded email is dropped."""
        ...

    async def postpone(self, claimed: Claimed, retry_at: datetime, attempts: int) -> None: ...


class UserDirectory(Protocol):
    """This service's copies of the users (email, disabled) and of their presence."""

    async def learn_senders(self, senders: Iterable[UserRef]) -> None:
        """Senders not known yet (any user event overrides them)."""
        ...

    async def recipient(self, user_id: str) -> Recipient | None: ...

    async def apply_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        """The latest `at` wins (ties too: the queue is in publish order)."""
        ...

    async def presence_of(self, user_id: str) -> tuple[bool | None, datetime | None]: ...


class MessageSource(Protocol):
    async def unread(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> Unread | None:
        """None: the conversation no longer exists."""
        ...


class MailSender(Protocol):
    async def send(self, email: Email) -> None:
        """Raises on any failure (the caller keeps the email and retries)."""
        ...
