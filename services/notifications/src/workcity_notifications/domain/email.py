"""The notification email: subject, plain text and HTML (user text escaped), with a link."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from workcity_notifications.domain.rules import PendingMessage

# Long messages are cut in the email; the link shows them whole.
TEXT_PREVIEW_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    # The same for every attempt at this email (see message_id): a receiver that has the first
    # copy recognises a re-send after a crash as the same message.
    message_id: str


def message_id(
    conversation_id: str, recipient_id: str, first_seq: int, last_seq: int, domain: str
) -> str:
    """The email's `Message-ID` (RFC 5322 3.6.4), derived from what it is about: one recipient's
    messages `first_seq`..`last_seq` of one conversation. A (conversation, recipient) pair never
    gets two emails about the same range (each email moves the pair's done_seq past its last)."""
    return f"<notify.{conversation_id}.{recipient_id}.{first_seq}-{last_seq}@{domain}>"


def mail_domain(mail_from: str) -> str:
    """The right-hand side of Message-IDs: the sender address's domain."""
    _, address = parseaddr(mail_from)
    local, at, domain = address.rpartition("@")
    return domain if local and at and domain else "workcity.chat"


def conversation_link(frontend_url: str, conversation_id: str) -> str:
    return f"{frontend_url.rstrip('/')}/chat/{conversation_id}"


def _preview(text: str) -> str:
    return text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…"


def compose(
    to: str,
    conversation_id: str,
    messages: Sequence[PendingMessage],
    frontend_url: str,
    *,
    message_id: str,
    total: int | None = None,
) -> Email:
    """`messages` are the oldest unread (at most a configured number); `total` counts them all."""
    ordered = sorted(messages, key=lambda m: m.seq)
    senders = sorted({m.sender_email for m in ordered})
    count = max(total or 0, len(ordered))
    noun = "message" if count == 1 else "messages"
    subject = f"{count} unread {noun} from {', '.join(senders)} on Workcity Chat"
    # A header-safe subject: no line breaks from user data (emails are validated, but be sure).
    subject = " ".join(subject.split())
    link = conversation_link(frontend_url, conversation_id)

    lines = [f"You have {count} unread {noun} on Workcity Chat:", ""]
    for m in ordered:
        lines.append(f"{m.sender_email} ({m.created_at:%Y-%m-%d %H:%M} UTC):")
        lines.extend(f"  {line}" for line in _preview(m.text).splitlines() or [""])
        lines.append("")
    lines += [f"Open the conversation: {link}", ""]
    text = "\n".join(lines)

    items = "".join(
        f"<li><p><strong>{html.escape(m.sender_email)}</strong> <small>{m.created_at:%Y-%m-%d %H:%M} UTC</small></p>"
        f'<p style="white-space: pre-wrap">{html.escape(_preview(m.text))}</p></li>'
        for m in ordered
    )
    body = (
        "<!doctype html><html><body>"
        f"<p>You have {count} unread {noun} on Workcity Chat:</p>"
        f"<ul>{items}</ul>"
        f'<p><a href="{html.escape(link, quote=True)}">Open the conversation</a></p>'
        "</body></html>"
    )
    return Email(to=to, subject=subject, text=text, html=body, message_id=message_id)
