"""The notifications drill: customers send a few messages each to agents who are offline, the
notifications service is killed (SIGKILL) while it takes in those messages and again while it
sends the emails, and at the end every message must be in exactly one email to its agent.

Messages go through the REST API (the agents have no socket: they are the offline recipients),
each with a `clientMessageId` and re-sent with it on any failure. Emails are read from the
stack's development mail catcher (one .eml file per email, under <run-dir>/mail).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.drills.checker import Figures
from bench.drills.faults import Timeline
from bench.drills.messages import DrillResult, Load, read_history, source_addresses
from bench.prepare import Api, Pair, prepare
from scripts.devstack import DevStack

Say = Callable[[str], None]

# The stack's notifications settings for this drill: emails seconds after the messages, and a
# claim short enough that an email claimed by the killed process is taken over within the drill.
EMAIL_DRILL_ENV = {
    "NOTIFY_DELAY_SECONDS": "4",
    # Messages that reach the service after their conversation's email went out wait for the
    # window's end: short, so that second email is sent within the drill too.
    "NOTIFY_WINDOW_SECONDS": "8",
    "EVENT_BATCH_LINGER_SECONDS": "1",
    "NOTIFY_CLAIM_SECONDS": "10",
    "SMTP_TIMEOUT_SECONDS": "5",
}
MESSAGES_PER_CONVERSATION = 3
_ID_IN_TEXT = re.compile(r"\[([0-9a-f]{32})\]")
_LINK = re.compile(r"/chat/([0-9a-f]{24})")


@dataclass
class EmailSeen:
    to: str
    conversation_id: str | None
    client_ids: set[str]
    # Copies with one Message-ID are one message to a receiver that de-duplicates by it (RFC
    # 5322 3.6.4); the service re-sends an email it may have sent with the same one.
    message_id: str = ""


def read_mail(directory: Path, skip: set[str] | frozenset[str] = frozenset()) -> list[EmailSeen]:
    """The emails the catcher stored in `directory`, but those named in `skip`."""
    seen = []
    for path in sorted(directory.glob("*.eml")):
        if path.name in skip:
            continue
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        link = _LINK.search(text)
        seen.append(
            EmailSeen(
                to=str(message["To"]),
                conversation_id=link.group(1) if link else None,
                client_ids=set(_ID_IN_TEXT.findall(text)),
                message_id=str(message["Message-ID"] or path.name),
            )
        )
    return seen


async def _send(http: httpx.AsyncClient, pair: Pair, text: str) -> tuple[str, float, Any]:
    """One message from the customer, re-sent with the same clientMessageId until stored."""
    client_id = uuid.uuid4().hex
    body = {"text": f"{text} [{client_id}]", "clientMessageId": client_id}
    headers = {"Authorization": f"Bearer {pair.customer.token}"}
    first = time.monotonic()
    for attempt in range(120):
        try:
            response = await http.post(
                f"/api/conversations/{pair.conversation_id}/messages", json=body, headers=headers
            )
            if response.status_code in (200, 201):
                return client_id, first, response.json()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(min(1.0, 0.1 * 2**attempt))
    return client_id, first, None


async def run_email_drill(
    stack: DevStack, *, load: Load, say: Say, down_s: float = 5.0
) -> DrillResult:
    url = stack.gateway_url
    mail_dir = stack.config.run_dir / "mail"
    api = Api(url, source_addresses(8))
    try:
        population = await prepare(
            api,
            tag=f"mail{int(time.time())}",
            admin_email=stack.config.admin_email,
            admin_password=stack.config.admin_password,
            pairs=load.conversations,
            say=say,
        )
    finally:
        await api.close()
    before = {p.name for p in mail_dir.glob("*.eml")}
    load_before = os.getloadavg()

    async def crash(wait_for: Callable[[], bool], what: str) -> Timeline:
        deadline = time.monotonic() + 120
        while not wait_for() and time.monotonic() < deadline:  # noqa: ASYNC110 - a file poll
            await asyncio.sleep(0.05)
        say(f"fault: notifications SIGKILL ({what}), started again {down_s:g} s later")
        struck = time.monotonic()
        await asyncio.to_thread(stack.stop_process, "notifications", kill=True)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(stack.start_process, "notifications")
        return Timeline(struck, time.monotonic())

    def emails() -> list[EmailSeen]:
        # This drill's: other conversations' emails (an earlier drill's) are not counted.
        return [e for e in read_mail(mail_dir, before) if e.conversation_id in conversations]

    pairs = population.pairs
    conversations = {p.conversation_id for p in pairs}
    total = len(pairs) * MESSAGES_PER_CONVERSATION
    rate = min(load.rate, total / 3)  # the messages of a conversation well within the delay
    started = time.monotonic()
    sent: list[tuple[Pair, tuple[str, float, Any]]] = []
    async with httpx.AsyncClient(base_url=url, timeout=10.0, trust_env=False) as http:
        first_crash = asyncio.create_task(
            crash(lambda: time.monotonic() > started + total / rate / 2, "taking in messages")
        )
        jobs = []
        for k in range(total):
            await asyncio.sleep(max(0.0, started + k / rate - time.monotonic()))
            pair = pairs[k % len(pairs)]
            jobs.append(asyncio.create_task(_send(http, pair, f"mail drill {k}")))
        results = await asyncio.gather(*jobs)
        sent = list(zip([pairs[k % len(pairs)] for k in range(total)], results, strict=True))
        first = await first_crash
        say(f"{total} messages sent; waiting for the first email")
        second = await crash(lambda: len(emails()) > 0, "sending emails")
        # Every message in an email, then a quiet period longer than a claim, so an email sent
        # twice (a claim taken over) has the time to show.
        wanted = {client_id for _, (client_id, _, answer) in sent if answer is not None}
        deadline = time.monotonic() + 90
        while not wanted <= {c for e in emails() for c in e.client_ids}:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        last_email_at = time.monotonic()
        await asyncio.sleep(float(EMAIL_DRILL_ENV["NOTIFY_CLAIM_SECONDS"]) + 5)

        histories = await asyncio.gather(
            *(read_history(http, p.conversation_id, p.customer.token) for p in pairs)
        )
    stored = [m for history in histories for m in history]
    received = emails()
    new_files = {p.name for p in mail_dir.glob("*.eml")} - before
    figures = account(sent, stored, received, pairs)
    figures.recovered_s = round(last_email_at - first.struck_at, 1)
    conditions = {
        "sockets": 0,
        "conversations": len(pairs),
        "rate": rate,
        "spread": {},
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "emails": len(new_files),
        "second_crash_after_first_email_s": round(second.struck_at - first.struck_at, 1),
        "settings": EMAIL_DRILL_ENV,
    }
    return DrillResult(
        "notifications-kill",
        f"notifications SIGKILL twice (taking in messages, then sending emails), {down_s:g} s "
        "down each time",
        Load(load.conversations, rate, total / rate, 0, 0),
        figures,
        first,
        conditions,
    )


def account(
    sent: list[tuple[Pair, tuple[str, float, Any]]],
    stored: list[Any],
    received: list[EmailSeen],
    pairs: list[Pair],
) -> Figures:
    """Every stored message must be in exactly one email, to its conversation's agent. Copies of
    one Message-ID count once, as the first (what a de-duplicating receiver keeps)."""
    agent_of = {p.conversation_id: p.agent.email for p in pairs}
    in_emails: Counter[str] = Counter()
    per_conversation: dict[str, int] = defaultdict(int)
    wrong = 0
    message_ids: set[str] = set()
    resent = 0
    for seen in received:
        if seen.message_id and seen.message_id in message_ids:
            resent += 1
            continue
        message_ids.add(seen.message_id)
        if (
            seen.conversation_id not in agent_of
            or seen.to.lower() != agent_of[seen.conversation_id].lower()
        ):
            wrong += 1
            continue
        per_conversation[seen.conversation_id] += 1
        in_emails.update(seen.client_ids)
    acked = [result for _, result in sent if result[2] is not None]
    stored_ids = {m.client_id for m in stored}
    missing = [m for m in stored if in_emails[m.client_id] == 0]
    twice = [m for m in stored if in_emails[m.client_id] > 1]
    return Figures(
        acknowledged=len(acked),
        unacknowledged=len(sent) - len(acked),
        stored=len(stored),
        expected_deliveries=len(stored),
        delivered_live=len(stored) - len(missing),
        delivered_catch_up=0,
        lost_not_stored=sum(1 for client_id, _, _ in acked if client_id not in stored_ids),
        lost_not_delivered=len(missing) + wrong,
        duplicated_stored=len(stored) - len(stored_ids),
        shown_twice=len(twice),
        out_of_order=0,
        seq_gaps=0,
        conflicting_acks=0,
        recovered_s=None,
        ack_p50_ms=None,
        ack_p99_ms=None,
        delivery_p50_ms=None,
        delivery_p99_ms=None,
        retried_sends=0,
        reconnects=0,
        errors={
            "emails_to_someone_else": wrong,
            "conversations_emailed_twice": sum(1 for n in per_conversation.values() if n > 1),
            "resent_same_message_id": resent,
        },
        lost_examples=[f"{m.conversation_id}#{m.seq} in no email" for m in missing[:5]]
        + [f"{m.conversation_id}#{m.seq} in {in_emails[m.client_id]} emails" for m in twice[:5]],
    )
