"""Every use case of the notifications `Notifier` (service_layer/notifier.py) against in-memory
fakes of its ports (fakes.py): events schedule wake-ups, and the scheduler turns a due wake-up into
one email, a drop, a later look or a retry. The real adapters (MongoDB, SMTP, the conversations
service) are checked in tests/integration/notifications/."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from workcity_common.events import (
    MessageCreated,
    MessageData,
    MessageEventData,
    PresenceChanged,
    PresenceData,
    UserRef,
)
from workcity_notifications.domain.batch import Wake, pair_key
from workcity_notifications.domain.model import Claimed, Outgoing
from workcity_notifications.domain.rules import Recipient
from workcity_notifications.service_layer.notifier import GONE_SEQ, Notifier, Timing

from tests.unit.notifications.fakes import (
    IDLE,
    FakeDirectory,
    FakeMailer,
    FakeMessages,
    FakeWakeupStore,
)

C = "c" * 24
CUSTOMER = UserRef(id="u-customer", email="customer@x.test", role="customer")
AGENT = UserRef(id="u-agent", email="agent@x.test", role="agent")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TIMING = Timing(unknown_attempts=2)
KEY = pair_key(C, AGENT.id)


@dataclasses.dataclass
class World:
    notifier: Notifier
    store: FakeWakeupStore
    directory: FakeDirectory
    mailer: FakeMailer
    messages: FakeMessages
    now: list[datetime]

    def later(self, delta: timedelta) -> None:
        self.now[0] += delta

    async def email_due(self, text: str = "hello") -> None:
        """A message to the agent, and the delay gone by: its email is due."""
        await self.customer_writes(text)
        self.later(TIMING.delay)

    async def customer_writes(self, text: str) -> None:
        """The customer sends a message to the agent, and its event arrives."""
        at = self.now[0]
        seq = self.messages.add(C, CUSTOMER.id, text, at)
        data = MessageData(
            id=f"{C}-{seq}",
            conversation_id=C,
            seq=seq,
            sender=CUSTOMER,
            text=text,
            created_at=at,
            updated_at=at,
        )
        event = MessageCreated(
            producer="conversations",
            data=MessageEventData(message=data, participant_ids=[CUSTOMER.id, AGENT.id]),
        )
        await self.notifier.handle_events([event])


def world(timing: Timing = TIMING, store: FakeWakeupStore | None = None) -> World:
    now = [T0]
    store = store or FakeWakeupStore()
    directory, mailer, messages = FakeDirectory(), FakeMailer(), FakeMessages()
    directory.users[AGENT.id] = Recipient(AGENT.id, AGENT.email)
    notifier = Notifier(
        store,
        directory,
        mailer,
        messages,
        frontend_url="https://chat.test",
        mail_domain="x.test",
        timing=timing,
        now=lambda: now[0],
    )
    return World(notifier, store, directory, mailer, messages, now)


async def test_an_unread_message_makes_a_wake_up_a_delay_later_and_learns_its_sender() -> None:
    w = world()
    await w.customer_writes("hello")
    wake = w.store.wakeups[KEY]
    assert (wake.due_at, wake.seen_seq, wake.done_seq) == (T0 + TIMING.delay, 1, 0)
    # The sender is a recipient too (of the agent's replies), known before any user event.
    assert await w.directory.recipient(CUSTOMER.id) == Recipient(CUSTOMER.id, CUSTOMER.email)


async def test_a_message_found_by_the_pending_wake_up_costs_no_write() -> None:
    w = world()
    await w.customer_writes("one")
    w.later(timedelta(seconds=5))
    await w.customer_writes("two")
    assert w.store.schedule_calls == 1
    assert w.store.wakeups[KEY].due_at == T0 + TIMING.delay


async def test_presence_events_keep_the_latest_news() -> None:
    w = world()
    at = T0 + timedelta(seconds=1)
    online = PresenceChanged(
        producer="realtime", occurred_at=at, data=PresenceData(user_id=AGENT.id, online=True)
    )
    stale = PresenceChanged(
        producer="realtime", occurred_at=T0, data=PresenceData(user_id=AGENT.id, online=False)
    )
    await w.notifier.handle_events([online])
    await w.notifier.handle_events([stale])
    assert await w.directory.presence_of(AGENT.id) == (True, at)


async def test_nothing_is_claimed_before_it_is_due() -> None:
    w = world()
    await w.customer_writes("hello")
    w.later(TIMING.delay - timedelta(seconds=1))
    assert await w.notifier.run_due() == 0
    assert w.mailer.sent == []


async def test_a_due_wake_up_sends_one_email_with_the_unread_messages() -> None:
    w = world()
    await w.customer_writes("first")
    await w.customer_writes("second")
    w.later(TIMING.delay)
    assert await w.notifier.run_due() == 1
    [email] = w.mailer.sent
    assert email.to == AGENT.email
    assert "first" in email.text and "second" in email.text
    assert email.message_id == f"<notify.{C}.{AGENT.id}.1-2@x.test>"
    wake = w.store.wakeups[KEY]
    assert (wake.due_at, wake.done_seq, wake.outgoing) == (IDLE, 2, None)
    assert w.store.sent[KEY] == w.now[0]
    # Nothing left to do: a second round claims nothing and sends nothing.
    assert await w.notifier.run_due() == 0
    assert len(w.mailer.sent) == 1


async def test_a_read_before_it_is_due_drops_the_email() -> None:
    w = world()
    await w.customer_writes("hello")
    w.messages.read[(C, AGENT.id)] = 1
    w.later(TIMING.delay)
    assert await w.notifier.run_due() == 1
    assert w.mailer.sent == []
    assert (w.store.wakeups[KEY].due_at, w.store.wakeups[KEY].done_seq) == (IDLE, 1)


async def test_an_online_recipient_gets_no_email() -> None:
    w = world()
    await w.email_due()
    await w.directory.apply_presence(AGENT.id, True, w.now[0] - timedelta(seconds=1))
    assert await w.notifier.run_due() == 1
    assert w.mailer.sent == []
    assert (w.store.wakeups[KEY].due_at, w.store.wakeups[KEY].done_seq) == (IDLE, 1)
    # Dropped on presence alone: the conversations service was not asked what is unread.
    assert w.messages.asked == 0


async def test_many_due_wake_ups_are_listed_in_batches_and_all_handled() -> None:
    w = world()
    chats = [f"{i:024x}" for i in range(70)]
    for chat in chats:
        w.messages.add(chat, CUSTOMER.id, "hi", w.now[0])
    await w.store.schedule(
        {pair_key(chat, AGENT.id): Wake(chat, AGENT.id, w.now[0], 1, 1) for chat in chats}
    )
    w.later(TIMING.delay)
    listed: list[int] = []
    due_keys = w.store.due_keys

    async def counting(now: datetime, due_by: datetime, limit: int) -> list[str]:
        keys = await due_keys(now, due_by, limit)
        listed.append(len(keys))
        return keys

    w.store.due_keys = counting  # type: ignore[method-assign]
    assert await w.notifier.run_due(limit=100) == 70
    assert listed == [32, 32, 6, 0]
    assert len(w.mailer.sent) == 70


async def test_a_wake_up_another_replica_claims_after_it_was_listed_is_skipped() -> None:
    w = world()
    await w.email_due()
    due_keys = w.store.due_keys

    async def listed_then_taken(now: datetime, due_by: datetime, limit: int) -> list[str]:
        keys = await due_keys(now, due_by, limit)
        for key in keys:  # the other replica is quicker
            await w.store.claim(key, now, TIMING.claim, due_by=due_by)
        return keys

    w.store.due_keys = listed_then_taken  # type: ignore[method-assign]
    assert await w.notifier.run_due() == 0
    assert w.mailer.sent == []


async def test_a_deleted_conversation_idles_its_wake_up_for_good() -> None:
    w = world()
    await w.customer_writes("hello")
    del w.messages.messages[C]
    w.later(TIMING.delay)
    assert await w.notifier.run_due() == 1
    assert w.mailer.sent == []
    assert (w.store.wakeups[KEY].due_at, w.store.wakeups[KEY].done_seq) == (IDLE, GONE_SEQ)


async def test_a_second_email_waits_for_the_window() -> None:
    w = world()
    await w.customer_writes("first")
    w.later(TIMING.delay)
    await w.notifier.run_due()
    sent_at = w.now[0]
    w.later(timedelta(seconds=1))
    await w.customer_writes("second")
    w.later(TIMING.delay)
    await w.notifier.run_due()
    assert len(w.mailer.sent) == 1
    assert w.store.wakeups[KEY].due_at == sent_at + TIMING.window
    w.now[0] = sent_at + TIMING.window
    await w.notifier.run_due()
    assert [e.message_id for e in w.mailer.sent][1] == f"<notify.{C}.{AGENT.id}.2-2@x.test>"


async def test_an_email_recorded_as_outgoing_and_cut_off_is_sent_again_as_the_same_email() -> None:
    w = world()
    await w.email_due()
    w.mailer.cut_off = True
    # The process dies while SMTP has the email (nothing after the send runs).
    with pytest.raises(asyncio.CancelledError):
        await w.notifier.run_due()
    recorded = w.store.wakeups[KEY].outgoing
    assert recorded is not None and w.mailer.sent == []
    # A message after it and a read of everything change nothing: once the lease is over, that
    # same email (same Message-ID) goes out.
    await w.customer_writes("more")
    w.messages.read[(C, AGENT.id)] = 2
    assert await w.notifier.run_due() == 0
    w.later(TIMING.claim)
    assert await w.notifier.run_due() == 1
    assert w.mailer.sent == [recorded.email]
    assert recorded.email.message_id == f"<notify.{C}.{AGENT.id}.1-1@x.test>"
    wake = w.store.wakeups[KEY]
    assert (wake.outgoing, wake.done_seq, wake.attempts) == (None, 1, 0)
    # The message after it waits for the window, as after any email.
    assert wake.due_at == w.now[0] + TIMING.window


async def test_an_smtp_failure_keeps_the_email_for_a_retry_with_backoff() -> None:
    w = world()
    await w.email_due()
    w.mailer.failures = 2
    await w.notifier.run_due()
    wake = w.store.wakeups[KEY]
    assert (wake.attempts, wake.due_at) == (1, w.now[0] + timedelta(seconds=5))
    w.now[0] = wake.due_at
    await w.notifier.run_due()
    assert (wake.attempts, wake.due_at) == (2, w.now[0] + timedelta(seconds=10))
    w.now[0] = wake.due_at
    await w.notifier.run_due()
    assert len(w.mailer.sent) == 1 and wake.attempts == 0 and wake.outgoing is None


async def test_the_conversations_service_away_keeps_the_wake_up_for_later() -> None:
    w = world()
    await w.email_due()
    w.messages.down = True
    await w.notifier.run_due()
    wake = w.store.wakeups[KEY]
    assert (wake.attempts, wake.due_at, wake.outgoing) == (1, w.now[0] + timedelta(seconds=5), None)
    w.messages.down = False
    w.now[0] = wake.due_at
    await w.notifier.run_due()
    assert len(w.mailer.sent) == 1


async def test_an_unknown_recipient_is_looked_up_again_then_given_up() -> None:
    w = world()
    del w.directory.users[AGENT.id]
    await w.email_due()
    for attempt in range(1, TIMING.unknown_attempts + 1):
        await w.notifier.run_due()
        wake = w.store.wakeups[KEY]
        assert (wake.attempts, wake.due_at) == (attempt, w.now[0] + TIMING.unknown_retry)
        w.now[0] = wake.due_at
    await w.notifier.run_due()
    assert w.mailer.sent == []
    assert (w.store.wakeups[KEY].due_at, w.store.wakeups[KEY].done_seq) == (IDLE, 1)


async def test_a_disabled_recipient_gets_no_email() -> None:
    w = world()
    w.directory.users[AGENT.id] = Recipient(AGENT.id, AGENT.email, disabled=True)
    await w.email_due()
    await w.notifier.run_due()
    assert w.mailer.sent == [] and w.store.wakeups[KEY].due_at == IDLE


async def test_a_claim_lost_before_sending_sends_nothing() -> None:
    class ClaimLost(FakeWakeupStore):
        """Another replica takes the wake-up over (the lease ran out) just before the intend."""

        async def intend(self, claimed: Claimed, outgoing: Outgoing) -> bool:
            self.wakeups[claimed.key].claim = "another replica"
            return await super().intend(claimed, outgoing)

    w = world(store=ClaimLost())
    await w.email_due()
    await w.notifier.run_due()
    assert w.mailer.sent == [] and w.store.wakeups[KEY].outgoing is None


async def test_run_due_stops_at_its_limit_and_when_asked() -> None:
    w = world()
    for n in range(3):
        conversation = f"{n}" * 24
        w.messages.add(conversation, CUSTOMER.id, "hi", T0)
        wake = Wake(conversation, AGENT.id, T0 + TIMING.delay, 1, 1)
        await w.store.schedule({pair_key(conversation, AGENT.id): wake})
    w.later(TIMING.delay)
    assert await w.notifier.run_due(limit=2) == 2
    assert await w.notifier.run_due(stop=lambda: True) == 0
    assert await w.notifier.run_due() == 1
    assert len(w.mailer.sent) == 3


async def test_a_due_email_waits_for_the_settle_time() -> None:
    w = world(dataclasses.replace(TIMING, settle=timedelta(seconds=3)))
    await w.customer_writes("hello")
    w.later(TIMING.delay + timedelta(seconds=2))
    assert await w.notifier.run_due() == 0
    w.later(timedelta(seconds=1))
    assert await w.notifier.run_due() == 1
