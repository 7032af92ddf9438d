"""The use cases: what events change in the schedule, and what the scheduler does with a due
wake-up. It depends only on its ports (service_layer/ports.py): unit tests pass in-memory fakes
(tests/unit/notifications/), integration tests the real store and a real SMTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from workcity_common.events import Event, utcnow

from workcity_notifications.domain import batch, rules
from workcity_notifications.domain.email import compose, message_id
from workcity_notifications.domain.model import Claimed, Outgoing
from workcity_notifications.service_layer.ports import (
    MailSender,
    MessageSource,
    UserDirectory,
    WakeupStore,
)

log = logging.getLogger(__name__)

# Past any real seq: a deleted conversation's wake-up is idle for good.
GONE_SEQ = 2**62
# Due wake-ups listed per request; each is then claimed by its key.
DUE_BATCH = 32


@dataclass(frozen=True, slots=True)
class Timing:
    delay: timedelta = timedelta(seconds=120)
    window: timedelta = timedelta(seconds=600)
    claim: timedelta = timedelta(seconds=120)
    retry_max: timedelta = timedelta(seconds=600)
    presence_max_age: timedelta = timedelta(hours=12)
    # A due email waits this much longer (the event batches' linger): a read or a deletion made
    # before the due time has then been applied, though its batch lingered.
    settle: timedelta = timedelta(0)
    # A recipient not in the directory yet (their user.* event is late): look again after this,
    # at most `unknown_attempts` times, then give up with a warning.
    unknown_retry: timedelta = timedelta(seconds=10)
    unknown_attempts: int = 30
    # Most messages shown in one email (its subject counts them all).
    email_max_messages: int = 50


class Notifier:
    def __init__(
        self,
        store: WakeupStore,
        directory: UserDirectory,
        sender: MailSender,
        messages: MessageSource,
        *,
        frontend_url: str,
        mail_domain: str = "workcity.chat",
        timing: Timing | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._directory = directory
        self._sender = sender
        self._messages = messages
        self._pending = batch.PendingDue()
        self._frontend_url = frontend_url
        self._mail_domain = mail_domain
        self._timing = timing or Timing()
        self._now = now

    # --- events -------------------------------------------------------------------------------

    async def handle_events(self, events: Sequence[Event]) -> None:
        """Apply a batch of events, in publish order (see domain/batch.py): no request at all
        when every message is found by a wake-up already pending, else two."""
        self._pending.forget_before(self._now())
        plan = batch.plan(events, self._pending.view(), delay=self._timing.delay)
        for event_type in plan.unexpected:
            log.warning("unexpected event on the notifications queue", extra={"type": event_type})
        await self._directory.learn_senders(plan.senders.values())
        self._pending.remember(await self._store.schedule(plan.wakes))
        for user_id, (online, at) in plan.presence.items():
            await self._directory.apply_presence(user_id, online, at)

    # --- the scheduler ------------------------------------------------------------------------

    async def run_due(self, limit: int = 100, stop: Callable[[], bool] = lambda: False) -> int:
        """Handle due wake-ups until none is left (at most `limit`, none more once `stop()`);
        returns how many were claimed. Due wake-ups are listed a batch at a time and claimed one
        by one just before each is handled, so a lease starts when its work does."""
        handled = 0
        while handled < limit and not stop():
            now = self._now()
            keys = await self._store.due_keys(
                now, now - self._timing.settle, min(DUE_BATCH, limit - handled)
            )
            claimed_any = False
            for key in keys:
                if stop():
                    break
                now = self._now()
                claimed = await self._store.claim(
                    key, now, self._timing.claim, due_by=now - self._timing.settle
                )
                if claimed is None:
                    continue  # another replica took it since it was listed
                claimed_any = True
                handled += 1
                await self._handle_claimed(claimed)
            if not claimed_any:
                break
        return handled

    async def _handle_claimed(self, claimed: Claimed) -> None:
        t, now = self._timing, self._now()
        context: dict[str, object] = {
            "conversation_id": claimed.conversation_id,
            "recipient_id": claimed.recipient_id,
        }
        if claimed.outgoing is not None:
            # Recorded by a claim that ended before the email was recorded sent (a crash, say):
            # SMTP may have accepted it, so exactly that email again, with its Message-ID.
            context.update(resent=claimed.outgoing.email.message_id)
            await self._send(claimed, claimed.outgoing, context)
            return
        online, at = await self._directory.presence_of(claimed.recipient_id)
        in_app = rules.is_online(online, at, now, t.presence_max_age)
        if in_app:
            # They are in the app and see the messages there: no need to ask which are unread.
            # Everything up to the highest message that asked for this wake-up is handled; a
            # later one asked for its own (finish keeps it due).
            log.info("notification dropped", extra={**context, "reason": "online"})
            await self._store.finish(claimed, claimed.seen_seq, next_due=now + t.delay)
            return
        try:
            unread = await self._messages.unread(
                claimed.conversation_id,
                claimed.recipient_id,
                claimed.done_seq,
                t.email_max_messages,
            )
        except Exception as exc:
            # The conversations service away: the wake-up stays stored; ask again later.
            await self._retry(claimed, now, context, "notification check failed", exc)
            return
        if unread is None:
            log.info("notification dropped", extra={**context, "reason": "conversation_gone"})
            # Nothing of it can be unread any more: the wake-up goes idle for good.
            await self._store.finish(claimed, GONE_SEQ, next_due=now + t.delay)
            return
        last_sent = await self._store.last_sent_at(claimed.key)
        recipient = await self._directory.recipient(claimed.recipient_id)
        decision = rules.decide(
            unread.messages,
            recipient,
            online=in_app,
            last_sent_at=last_sent,
            window=t.window,
            now=now,
            unknown_retry=t.unknown_retry,
        )
        context.update(messages=unread.count, reason=decision.reason)
        if decision.action == "drop":
            log.info("notification dropped", extra=context)
            await self._store.finish(claimed, unread.last_seq, next_due=now + t.delay)
            return
        if decision.action == "later":
            unknown = decision.reason == "unknown_recipient"
            attempts = claimed.attempts + 1 if unknown else claimed.attempts
            if unknown and attempts > t.unknown_attempts:
                log.warning("notification dropped: recipient unknown", extra=context)
                await self._store.finish(claimed, unread.last_seq, next_due=now + t.delay)
                return
            assert decision.retry_at is not None
            await self._store.postpone(claimed, decision.retry_at, attempts)
            return
        assert recipient is not None
        email = compose(
            recipient.email,
            claimed.conversation_id,
            unread.messages,
            self._frontend_url,
            total=unread.count,
            message_id=message_id(
                claimed.conversation_id,
                claimed.recipient_id,
                claimed.done_seq + 1,
                unread.last_seq,
                self._mail_domain,
            ),
        )
        outgoing = Outgoing(email, unread.last_seq)
        # Written before SMTP sees it: a crash after the server accepted it and before it is
        # recorded sent leaves it here, to be sent again as the same message (RELIABILITY.md).
        if not await self._store.intend(claimed, outgoing):
            log.warning("notification claim lost before sending", extra=context)
            return
        await self._send(claimed, outgoing, context)

    async def _send(self, claimed: Claimed, outgoing: Outgoing, context: dict[str, object]) -> None:
        try:
            await self._sender.send(outgoing.email)
        except Exception as exc:
            # The email stays recorded: the retry sends the same one.
            await self._retry(claimed, self._now(), context, "notification email failed", exc)
            return
        sent_at = self._now()
        await self._store.record_sent(claimed, sent_at)
        # Messages that arrived while this one was sent wait for the window.
        await self._store.finish(
            claimed, outgoing.covered_seq, next_due=sent_at + self._timing.window
        )
        log.info("notification sent", extra=context)

    async def _retry(
        self,
        claimed: Claimed,
        now: datetime,
        context: dict[str, object],
        what: str,
        exc: Exception,
    ) -> None:
        attempts = claimed.attempts + 1
        retry_at = now + rules.retry_backoff(attempts, self._timing.retry_max)
        log.warning(
            f"{what}; will retry",
            extra={
                **context,
                "attempts": attempts,
                "retry_at": retry_at.isoformat(),
                "error": repr(exc),
            },
        )
        await self._store.postpone(claimed, retry_at, attempts)
