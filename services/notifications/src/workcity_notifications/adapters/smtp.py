"""Sending email over SMTP with aiosmtplib (async; STARTTLS or implicit TLS, optional login)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from workcity_notifications.domain.email import Email


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0


def to_message(email: Email, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpSender:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, email: Email) -> None:
        """Raises on any failure (the caller keeps the email and retries)."""
        c = self._config
        await aiosmtplib.send(
            to_message(email, c.mail_from),
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.tls,
            # False, not None: never upgrade silently unless asked (a dev catcher has no TLS).
            start_tls=c.starttls,
            timeout=c.timeout_s,
        )
